"""How a table is declared: columns, keys, where Drift serves it and how changes are found.

The HTTP layer reads endpoints and paging, the transform reads columns and types, the
loader reads keys and descriptions, and the CLI and ``docs/tables.md`` print it all.
Change a table's declaration and every part follows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

ColumnType = Literal["bigint", "double", "text", "boolean", "json", "timestamp"]
Pagination = Literal["conversation_list", "offset", "cursor", "none"]
Kind = Literal["list", "fanout", "window", "nested"]
"""Where a table's records come from:

* ``list``: one list endpoint, paged (conversations, accounts, playbooks...);
* ``fanout``: one request (or paged series) per id found in other tables' rows, e.g. messages
  per conversation, contacts per ``contactId`` (see :class:`Fanout`);
* ``window``: a time-window endpoint that must be asked range by range (meetings);
* ``nested``: rows made from an array inside another table's records (conversation tags),
  written whenever that table writes the parent row (see :class:`Nested`).
"""
ChangeDetection = Literal["cursor", "content", "parents"]
"""How an incremental run finds what changed. ``cursor``: Drift lists the table newest-updated
first, so paging stops below the last committed cursor value. ``content``: Drift has no change
filter, so every record is read and only those whose content differs from the stored row are
written; rows Drift no longer returns are marked deleted. ``parents``: a fan-out table is read
again only for the parent ids whose cursor moved since they were last read."""

EXTRA_COLUMN = "_extra"
EXTRA_DESCRIPTION = (
    "Added by driftsync. A JSON object holding every field Drift sent that this table has no "
    "column for, and any value that could not be stored in its column's type without loss "
    "(for example a non-numeric relatedPlaybookId). NULL when there was nothing left over."
)
TIMESTAMP_SUFFIX = "_ts"
HASH_COLUMN = "_driftsync_hash"
DELETED_COLUMN = "_driftsync_deleted_at"


@dataclass(frozen=True)
class Column:
    """One column: where it comes from in Drift's record and how it is stored.

    ``path`` reaches into a nested object (``("author", "id")``); without it the column is the
    top-level key of the same name. ``derive`` computes the value from the whole record, for
    the rare key Drift does not send (a meeting's key).
    """

    name: str
    type: ColumnType
    description: str
    spec_type: str | None = None
    note: str = ""
    epoch_ms: bool = False
    nullable: bool = True
    path: tuple[str, ...] | None = None
    derive: Callable[[dict[str, Any]], Any] | None = field(default=None, compare=False)

    @property
    def source(self) -> str:
        """The top-level key in Drift's record that this column reads."""
        return self.path[0] if self.path else self.name

    @property
    def comment(self) -> str:
        return f"{self.description} — {self.note}" if self.note else self.description


@dataclass(frozen=True)
class ParentRef:
    """Where a fan-out table finds its ids: ``key`` values of ``table``'s rows, re-read when
    that row's ``cursor`` moves."""

    table: str
    key: str
    cursor: str


@dataclass(frozen=True)
class Fanout:
    """One request (``path`` with ``{id}``) per parent id; ``single`` when Drift answers one
    object at ``records_path`` instead of a list."""

    parents: tuple[ParentRef, ...]
    path: str
    records_path: tuple[str, ...]
    pagination: Pagination = "none"
    single: bool = False


@dataclass(frozen=True)
class Nested:
    """Rows from the array ``field`` of ``parent``'s records. Each item becomes a row keyed by
    the parent's key (stored in ``parent_column``) plus the item's own key columns. ``scalar``
    names the column that holds items which are plain values (participant ids)."""

    parent: str
    field: str
    parent_column: str
    scalar: str | None = None
    enrich: Callable[[dict[str, Any]], dict[str, Any]] | None = field(default=None,
                                                                      compare=False)
    """Turns one item into its row's fields (custom properties spell out their value)."""


@dataclass(frozen=True)
class Window:
    """A time-window endpoint: both bounds required (``min_param``/``max_param``, epoch ms),
    at most ``cap`` records per answer, nothing older than ``days_back`` days."""

    column: str
    min_param: str
    max_param: str
    cap: int
    days_back: int
    days_ahead: int


@dataclass(frozen=True)
class Table:
    """One synced table and everything needed to fetch, store and document it."""

    name: str
    title: str
    description: str
    endpoint: str
    records_path: tuple[str, ...]
    pagination: Pagination
    page_size: int | None
    primary_key: str | tuple[str, ...]
    cursor: str | None
    scope: str
    columns: tuple[Column, ...]
    change_detection: ChangeDetection = "content"
    detail_endpoint: str | None = None
    detail_note: str = ""
    kind: Kind = "list"
    fanout: Fanout | None = None
    nested: Nested | None = None
    window: Window | None = None
    scope_note: str = ""
    key_note: str = ""
    extra_columns: tuple[Column, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        derived = [
            Column(
                name=f"{c.name}{TIMESTAMP_SUFFIX}",
                type="timestamp",
                description=f"Added by driftsync: {c.name} (epoch milliseconds) as a UTC timestamp.",
            )
            for c in self.columns
            if c.epoch_ms
        ]
        derived.append(Column(name=EXTRA_COLUMN, type="json", description=EXTRA_DESCRIPTION))
        if self.change_detection == "content":
            derived += [
                Column(HASH_COLUMN, "text", "Added by driftsync: a hash of the record as Drift "
                       "sent it, so an incremental run writes only records whose content "
                       "changed."),
                Column(DELETED_COLUMN, "timestamp", "Added by driftsync: when a sync that read "
                       "the whole table from Drift no longer found this row (NULL while Drift "
                       "still returns it). Rows are marked, never deleted."),
            ]
        object.__setattr__(self, "extra_columns", tuple(derived))
        names = [c.name for c in self.all_columns]
        if len(names) != len(set(names)):
            raise ValueError(f"table {self.name} declares a column twice")
        for key in self.key_columns:
            if key not in names:
                raise ValueError(f"table {self.name}: primary key {key} is not a column")
        wanted = {"fanout": self.fanout, "nested": self.nested, "window": self.window}
        for kind, part in wanted.items():
            if (self.kind == kind) != (part is not None):
                raise ValueError(f"table {self.name}: kind {self.kind} and {kind} disagree")

    @property
    def key_columns(self) -> tuple[str, ...]:
        """The primary key as a tuple: one column, or several for a nested table."""
        key = self.primary_key
        return (key,) if isinstance(key, str) else key

    @property
    def key(self) -> str:
        """The single key column of a table that has one (every kind except ``nested``)."""
        if not isinstance(self.primary_key, str):
            raise TypeError(f"table {self.name} has a composite key")
        return self.primary_key

    @property
    def requires(self) -> tuple[str, ...]:
        """Tables whose stored rows this one is made from (they sync first)."""
        if self.nested:
            return (self.nested.parent,)
        if self.fanout:
            return tuple(p.table for p in self.fanout.parents)
        return ()

    @property
    def all_columns(self) -> tuple[Column, ...]:
        """Drift's columns, then the ones driftsync adds (timestamps, ``_extra``)."""
        return self.columns + self.extra_columns

    def column(self, name: str) -> Column:
        for c in self.all_columns:
            if c.name == name:
                return c
        raise KeyError(name)
