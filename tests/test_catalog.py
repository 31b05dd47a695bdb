"""The catalog against the product spec (Acho's Drift page), copied here as a literal list."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftsync.catalog import CATALOG, EXTRA_COLUMN, select_tables
from driftsync.docs import render_markdown
from driftsync.errors import ConfigError

# (column, type, description) exactly as "4. Available Tables" prints them, in page order.
SPEC = {
    "accounts": [
        ("ownerId", "integer", "The ID of the owner in Drift (should be a known user ID)"),
        ("name", "string", "The name of the company"),
        ("domain", "string", "The domain of the company"),
        ("accountId", "string", "Identifier for the company (used for lookup)"),
        ("customProperties", "array", "List of custom properties associated with the account."),
        ("deleted", "boolean", "Is the account deleted (deleted accounts won't be visible in "
         "drift, but are retrievable by id for auditing)."),
        ("createDateTime", "integer", "The timestamp creation time of the account"),
        ("updateDateTime", "integer", "The timestamp last updated time of the account"),
        ("targeted", "boolean", "Is the account currently targeted"),
    ],
    "conversations": [
        ("id", "integer", "Conversations are uniquely identified by an id, which can be used to "
         "check its current state and its messages."),
        ("participants", "integer", "Each conversation has a set of participants; Drift Users "
         "who are taking part in, or responsible for communication with the Contact. This field "
         "is a set of ids that uniquely identify each User."),
        ("status", "integer", "Conversations in Drift are organized by their status: open "
         "Conversations are active and should be responded to, pending ones are waiting on "
         "follow up, closed are handled and not actively being communicated with. and bulk_sent "
         "are playbook messages that have reached an end user but not been interacted with. "
         "Conversations may move in between any of these statuses as users change them or new "
         "events cause them (e.g. if a contact sends a new message in a closed conversation, its "
         "status will be changed to open)."),
        ("contactId", "integer", "The id of the contact that's being communicated with in this "
         "conversation as a long value (int64)."),
        ("createdAt", "integer", "A Unix timestamp representing the moment that the "
         "conversation was created."),
        ("updatedAt", "integer", "A Unix timestamp representing the moment that the "
         "conversation was updated. For example, updated due to a status change or new message "
         "post."),
        ("orgId", "integer", "The Drift organization this conversation belongs to."),
        # The page prints inboxId's description at its very end, away from the table.
        ("inboxId", "integer", "The inbox this conversation belongs to, can reconstruct drift "
         "conversation links via: https://app.drift.com/inboxes/{inboxId}/conversations/"
         "{conversationId}"),
        ("conversationTags", "array", "Any tags applied to the conversation, include their "
         "color appearance in the conversation view within drift."),
        ("relatedPlaybookId", "integer", "This is the ID of the playbook that initiated the "
         "conversation. Conversations started from the default welcome message will not include "
         "a relatedPlaybookId in the conversation payload. This will be included in the response "
         "of the GET conversation endpoint if present."),
    ],
    "users": [
        ("id", "integer", "The Drift identifier for the user. This is will always be numeric."),
        ("createdAt", "integer", "A unix timestamp for when the contact was first captured."),
        ("name", "string", "The name of the user"),
        ("alias", "string", "The short hand name for the user (if present)"),
        ("email", "string", "The email of the user"),
        ("phone", "string", "The phone number associated with the user"),
        ("locale", "string", "The locale for the user"),
        ("availability", "string", 'Description of user\'s current state: one of "AVAILABLE", '
         '"OFFLINE", "ON_CALL".'),
        ("role", "string", 'Role of Drift user: one of "member", "admin", "agent"'),
        ("timeZone", "string", "Timezone for the user represented as a string (if known)"),
        ("avatarUrl", "string", "The url for the user's avatar (profile) image"),
        ("verified", "boolean", "Is the user account verified? i.e. belongs to an actual person "
         "/ not manually created?"),
        ("bot", "boolean", "Is the user a bot user?"),
        ("createdAt", "integer", "Timestamp (milliseconds) representing when the user was "
         "created"),
        ("updatedAt", "integer", "timestamp (milliseconds) representing when the user was last "
         "updated"),
    ],
}
SCOPES = {"accounts": "account_read", "conversations": "conversation_read", "users": "user_read"}
KEYS = {"accounts": "accountId", "conversations": "id", "users": "id"}


@pytest.mark.parametrize("name", SPEC)
def test_every_spec_column_is_in_the_catalog_with_its_type_and_words(name: str) -> None:
    table = CATALOG[name]
    declared = {c.name: c for c in table.columns}
    spec = SPEC[name]
    assert list(dict.fromkeys(n for n, _, _ in spec)) == [c.name for c in table.columns]
    for column, spec_type, description in spec:
        got = declared[column]
        assert got.spec_type == spec_type
        # The one duplicated spec entry (users.createdAt) is quoted in the column's note.
        assert description in (got.description, *_quoted(got.note))
    assert table.primary_key == KEYS[name]
    assert table.scope == SCOPES[name]


def _quoted(note: str) -> list[str]:
    return note.split("'")[1::2]


def test_types_where_drift_contradicts_the_spec_keep_what_drift_sends() -> None:
    conversations = CATALOG["conversations"]
    assert conversations.column("status").type == "text"
    assert "bulk_sent" in conversations.column("status").note
    assert conversations.column("participants").type == "json"
    assert "list of user ids" in conversations.column("participants").note
    assert "string" in conversations.column("relatedPlaybookId").note
    assert "twice" in CATALOG["users"].column("createdAt").note
    for table in CATALOG.values():
        for column in table.columns:
            if column.name.endswith("Id") or column.name == "id":
                assert column.type in ("bigint", "text"), column.name
    assert CATALOG["accounts"].column("accountId").type == "text"  # "123458_domain.com"


def test_every_epoch_field_has_a_documented_timestamp_twin_and_every_column_a_description() -> None:
    for table in CATALOG.values():
        names = [c.name for c in table.all_columns]
        for column in table.columns:
            if column.epoch_ms:
                assert f"{column.name}_ts" in names
        assert EXTRA_COLUMN in names
        if table.change_detection == "content":
            assert names[-2:] == ["_driftsync_hash", "_driftsync_deleted_at"]
        assert all(c.comment for c in table.all_columns)
    assert [c.name for c in CATALOG["conversations"].extra_columns] == [
        "createdAt_ts", "updatedAt_ts", "_extra"]


def test_docs_tables_md_is_generated_from_the_catalog() -> None:
    path = Path(__file__).parents[1] / "docs" / "tables.md"
    assert path.read_text(encoding="utf-8") == render_markdown(), (
        "docs/tables.md is stale: run `make docs`"
    )


def test_selecting_tables() -> None:
    assert [t.name for t in select_tables(None)] == [
        "accounts", "account_custom_properties", "conversations", "conversation_tags",
        "conversation_participants", "messages", "users", "teams", "meetings", "contacts",
        "contact_attributes", "playbooks", "conversational_landing_pages",
    ]
    assert [t.name for t in select_tables(["users", "accounts"])] == ["accounts", "users"]
    with pytest.raises(ConfigError) as caught:
        select_tables(["users", "contact"])
    assert str(caught.value) == (
        "Unknown table 'contact'. Choose from: accounts, account_custom_properties, "
        "conversations, conversation_tags, conversation_participants, messages, users, teams, "
        "meetings, contacts, contact_attributes, playbooks, conversational_landing_pages."
    )


def test_selecting_a_table_brings_the_tables_it_is_made_from() -> None:
    assert [t.name for t in select_tables(["messages"])] == ["conversations", "messages"]
    assert [t.name for t in select_tables(["contacts"])] == [
        "conversations", "meetings", "contacts"]
    assert [t.name for t in select_tables(["account_custom_properties"])] == [
        "accounts", "account_custom_properties"]


def test_every_table_declares_scope_key_and_described_columns() -> None:
    for table in CATALOG.values():
        assert table.scope in {"account_read", "conversation_read", "user_read", "contact_read",
                               "all_contact_read", "playbook_read"}, table.name
        assert table.description and table.title
        for column in table.all_columns:
            assert column.description.strip(), (table.name, column.name)
        for key in table.key_columns:
            assert not table.column(key).nullable, (table.name, key)
