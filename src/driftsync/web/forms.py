"""Form fields shared by the wizard and the resource page: schedule, Data Sync state, mode."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from ..resources import MODES, STATES, Schedule, parse_schedule

SCHEDULES: tuple[tuple[str, str], ...] = (
    ("manual", "Manual: only when you click Sync now"),
    ("every 1h", "Every hour"),
    ("every 6h", "Every 6 hours"),
    ("daily 06:00 UTC", "Every day at 06:00 UTC"),
    ("weekly mon 06:00 UTC", "Every Monday at 06:00 UTC"),
)
"""The schedules offered in the list; any other form goes in the "custom" field."""
CUSTOM = "custom"
MODE_LABELS = {"incremental": "Incremental: only what changed since the last sync",
               "full-refresh": "Full refresh: read and write everything each time"}
STATE_LABELS = {"enabled": "ENABLED", "paused": "PAUSED"}


def schedule_from(form: Any) -> Schedule:
    """The schedule chosen in a form (``schedule`` or, for ``custom``, ``schedule_custom``)."""
    choice = str(form.get("schedule") or "manual")
    if choice == CUSTOM:
        text = str(form.get("schedule_custom") or "").strip()
        if not text:
            raise ConfigError("Type the custom schedule, e.g. every 30m or daily 07:15 "
                              "Europe/Berlin.")
        return parse_schedule(text)
    if choice not in dict(SCHEDULES):
        raise ConfigError("Choose a schedule from the list, or a custom one.")
    return parse_schedule(choice)


def choice_from(form: Any, key: str, allowed: tuple[str, ...], what: str) -> str:
    value = str(form.get(key) or "")
    if value not in allowed:
        raise ConfigError(f"Choose the {what}: {' or '.join(allowed)}.")
    return value


def state_from(form: Any) -> str:
    return choice_from(form, "state", STATES, "Data Sync state")


def mode_from(form: Any) -> str:
    return choice_from(form, "mode", MODES, "update mode")


def schedule_fields(schedule: Schedule | None) -> dict[str, str]:
    """The form's values for an existing schedule: a preset, or custom with its text."""
    text = schedule.text if schedule is not None else "manual"
    if text in dict(SCHEDULES):
        return {"choice": text, "custom": ""}
    return {"choice": CUSTOM, "custom": text}
