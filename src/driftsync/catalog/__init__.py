"""The tables driftsync syncs, declared once as data (see :mod:`.model`).

The spec's three tables live in :mod:`.spec_tables`, the rest of Drift in
:mod:`.drift_tables`. ``CATALOG`` lists them in sync order: a table comes after the tables it
is made from (messages after conversations, contacts after meetings).
"""

from __future__ import annotations

from .drift_tables import (
    ACCOUNT_CUSTOM_PROPERTIES,
    CONTACT_ATTRIBUTES,
    CONTACTS,
    CONVERSATION_PARTICIPANTS,
    CONVERSATION_TAGS,
    CONVERSATIONAL_LANDING_PAGES,
    MEETINGS,
    MESSAGES,
    PLAYBOOKS,
    TEAMS,
)
from .model import (
    DELETED_COLUMN,
    EXTRA_COLUMN,
    EXTRA_DESCRIPTION,
    HASH_COLUMN,
    TIMESTAMP_SUFFIX,
    Column,
    Fanout,
    Nested,
    ParentRef,
    Table,
    Window,
)
from .spec_tables import ACCOUNTS, CONVERSATIONS, USERS

__all__ = [
    "ACCOUNTS", "ACCOUNT_CUSTOM_PROPERTIES", "CATALOG", "CONTACTS", "CONTACT_ATTRIBUTES",
    "CONVERSATIONAL_LANDING_PAGES", "CONVERSATIONS", "CONVERSATION_PARTICIPANTS",
    "CONVERSATION_TAGS", "Column", "DELETED_COLUMN", "EXTRA_COLUMN", "EXTRA_DESCRIPTION",
    "Fanout", "HASH_COLUMN", "MEETINGS", "MESSAGES", "Nested", "PLAYBOOKS", "ParentRef",
    "SPEC_TABLES", "TEAMS", "TIMESTAMP_SUFFIX", "Table", "USERS", "Window", "select_tables",
]

CATALOG: dict[str, Table] = {t.name: t for t in (
    ACCOUNTS, ACCOUNT_CUSTOM_PROPERTIES,
    CONVERSATIONS, CONVERSATION_TAGS, CONVERSATION_PARTICIPANTS, MESSAGES,
    USERS, TEAMS,
    MEETINGS, CONTACTS, CONTACT_ATTRIBUTES,
    PLAYBOOKS, CONVERSATIONAL_LANDING_PAGES,
)}
"""Every table driftsync can sync, by name, in sync order."""

SPEC_TABLES = ("accounts", "conversations", "users")
"""The tables of the product spec (Acho Studio's Drift source)."""


def select_tables(names: list[str] | None) -> list[Table]:
    """Tables named by the user plus the tables they are made from, in catalog order; all
    of them when ``names`` is empty."""
    from ..errors import ConfigError

    if not names:
        return list(CATALOG.values())
    unknown = [n for n in names if n not in CATALOG]
    if unknown:
        raise ConfigError(
            f"Unknown table {', '.join(repr(n) for n in unknown)}. "
            f"Choose from: {', '.join(CATALOG)}."
        )
    wanted: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            todo.extend(CATALOG[name].requires)
    return [t for name, t in CATALOG.items() if name in wanted]
