"""Jinja filters: how times, numbers and cell values read on the pages.

Each returns plain text, which Jinja escapes like any other value: a filter never makes
markup, so nothing from Drift can become HTML on the way.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from jinja2 import Environment

CELL_CHARS = 200


def when(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """``3 min ago``, ``in 2 h``: how far ``moment`` is from now."""
    if moment is None:
        return ""
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 60:
        amount = f"{int(seconds)} s"
    elif seconds < 3600:
        amount = f"{int(seconds // 60)} min"
    elif seconds < 172_800:
        amount = f"{int(seconds // 3600)} h"
    else:
        amount = f"{int(seconds // 86_400)} days"
    return f"in {amount}" if future else f"{amount} ago"


def number(value: int | float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,}"


def seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


def cell(value: Any, limit: int = CELL_CHARS) -> str:
    """A stored value as text for a table cell, long text cut to ``limit`` characters."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(sep=" ") if value.tzinfo else value.isoformat(
            sep=" ")
    if isinstance(value, date | Decimal):
        return str(value)
    if isinstance(value, list | dict | tuple):
        text = json.dumps(value, default=str, ensure_ascii=False)
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def oneline(text: str | None) -> str:
    return " ".join((text or "").split())


def install(env: Environment) -> None:
    env.filters.update(when=when, ago=ago, number=number, seconds=seconds, cell=cell,
                       oneline=oneline)
