"""to_arrow(): Drift records -> Arrow tables typed by the catalog, value by value."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest

import driftsync.simulator
from driftsync.catalog import ACCOUNTS, CATALOG, CONVERSATIONS, USERS, Table
from driftsync.errors import MalformedResponseError
from driftsync.transform import arrow_schema, batches, content_hash, dlt_columns, to_arrow

SAMPLES = Path(driftsync.simulator.__file__).parent / "samples"
TS = pa.timestamp("us", tz="UTC")


def sample(name: str) -> Any:
    return orjson.loads((SAMPLES / name).read_bytes())


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def row(table: Table, record: dict[str, Any]) -> dict[str, Any]:
    (only,) = to_arrow(table, [record]).to_pylist()
    return only


def extra(table: Table, record: dict[str, Any]) -> Any:
    text = row(table, record)["_extra"]
    return None if text is None else orjson.loads(text)


# -- the samples, field by field ----------------------------------------------------------


def test_conversation_sample_converts_field_by_field() -> None:
    record = sample("conversation_get.json")["data"]

    result = to_arrow(CONVERSATIONS, [record])

    assert result.schema == arrow_schema(CONVERSATIONS)
    assert result.column_names == [
        "id", "participants", "status", "contactId", "createdAt", "updatedAt", "orgId",
        "inboxId", "conversationTags", "relatedPlaybookId", "createdAt_ts", "updatedAt_ts",
        "_extra",
    ]
    types = {f.name: f.type for f in result.schema}
    assert types == {
        "id": pa.int64(), "participants": pa.string(), "status": pa.string(),
        "contactId": pa.int64(), "createdAt": pa.int64(), "updatedAt": pa.int64(),
        "orgId": pa.int64(), "inboxId": pa.int64(), "conversationTags": pa.string(),
        "relatedPlaybookId": pa.int64(), "createdAt_ts": TS, "updatedAt_ts": TS,
        "_extra": pa.string(),
    }
    assert result.schema.field("id").nullable is False
    assert result.to_pylist() == [{
        "id": 116119985,
        "participants": "[243266,252465]",
        "status": "closed",
        "contactId": 903182234,
        "createdAt": 1528293067340,
        "updatedAt": 1565798942334,
        "orgId": None,
        "inboxId": 116983,
        "conversationTags": '[{"color":"0960C5","name":"test_tag"},'
                            '{"color":"7695A5","name":"second_tag"}]',
        "relatedPlaybookId": 63505,
        "createdAt_ts": utc(2018, 6, 6, 13, 51, 7, 340000),
        "updatedAt_ts": utc(2019, 8, 14, 16, 9, 2, 334000),
        "_extra": None,
    }]


def test_list_samples_keep_ids_above_2_to_the_31() -> None:
    records = sample("conversations_list_v2.json")["data"] + sample(
        "conversations_list_v1.json")["data"]

    result = to_arrow(CONVERSATIONS, records)

    assert result.column("id").to_pylist() == [3782727146, 1230200520, 1230183727, 1239406310]
    assert result.column("contactId").to_pylist() == [17035536800, 1238157803, 1238007734,
                                                      1231375574]
    assert result.column("createdAt_ts").to_pylist()[0] == utc(2023, 6, 9, 9, 34, 3, 241000)
    assert result.column("updatedAt_ts").to_pylist()[0] == utc(2023, 6, 9, 9, 36, 21, 300000)
    for column in ("participants", "conversationTags", "relatedPlaybookId", "orgId", "_extra"):
        assert result.column(column).to_pylist() == [None] * 4


def test_timestamps_equal_the_epoch_milliseconds_as_utc() -> None:
    records = sample("conversations_list_v1.json")["data"]

    result = to_arrow(CONVERSATIONS, records)

    for ms, ts in zip(result.column("createdAt").to_pylist(),
                      result.column("createdAt_ts").to_pylist(), strict=True):
        assert ts == datetime.fromtimestamp(ms / 1000, UTC)
        assert ts.tzinfo is not None and ts.utcoffset().total_seconds() == 0
    raw = result.column("createdAt_ts").cast(pa.int64()).to_pylist()
    assert raw == [ms * 1000 for ms in result.column("createdAt").to_pylist()]


def test_account_sample_converts_field_by_field() -> None:
    record = sample("account.json")["data"]

    result = to_arrow(ACCOUNTS, [record])

    types = {f.name: f.type for f in result.schema}
    assert types == {
        "ownerId": pa.int64(), "name": pa.string(), "domain": pa.string(),
        "accountId": pa.string(), "customProperties": pa.string(), "deleted": pa.bool_(),
        "createDateTime": pa.int64(), "updateDateTime": pa.int64(), "targeted": pa.bool_(),
        "createDateTime_ts": TS, "updateDateTime_ts": TS, "_extra": pa.string(),
        "_driftsync_hash": pa.string(), "_driftsync_deleted_at": TS,
    }
    assert result.to_pylist() == [{
        "ownerId": 21965,
        "name": "Company Name",
        "domain": "www.domain.com",
        "accountId": "123458_domain.com",
        "customProperties": '[{"label":"My Number","name":" my number","value":1,'
                            '"type":"NUMBER"}]',
        "deleted": False,
        "createDateTime": 1531159572668,
        "updateDateTime": 1533243683493,
        "targeted": True,
        "createDateTime_ts": utc(2018, 7, 9, 18, 6, 12, 668000),
        "updateDateTime_ts": utc(2018, 8, 2, 21, 1, 23, 493000),
        "_extra": None,
        "_driftsync_hash": content_hash(record),
        "_driftsync_deleted_at": None,
    }]
    assert content_hash(record) == content_hash(dict(reversed(record.items())))
    assert content_hash(record) != content_hash({**record, "targeted": False})
    assert orjson.loads(result.column("customProperties")[0].as_py()) == record[
        "customProperties"]


def test_user_record_converts_field_by_field() -> None:
    record = {"id": 243266, "createdAt": 1528293067340, "name": "Ann", "alias": "A",
              "email": "ann@example.com", "phone": "+1 555", "locale": "en-US",
              "availability": "AVAILABLE", "role": "admin", "timeZone": "America/New_York",
              "avatarUrl": "https://x/a.png", "verified": True, "bot": False,
              "updatedAt": 1565798942334}

    assert row(USERS, record) == {**record, "createdAt_ts": utc(2018, 6, 6, 13, 51, 7, 340000),
                                  "updatedAt_ts": utc(2019, 8, 14, 16, 9, 2, 334000),
                                  "_extra": None, "_driftsync_hash": content_hash(record),
                                  "_driftsync_deleted_at": None}


# -- absent, unknown and unusual values ---------------------------------------------------


@pytest.mark.parametrize("table", list(CATALOG.values()), ids=list(CATALOG))
def test_missing_keys_are_null(table: Table) -> None:
    if table.name == "meetings":
        key: dict[str, Any] = {"eventId": "evt-1"}
    else:
        key = {k: "a_b.com" if table.column(k).type == "text" else 7 for k in table.key_columns}

    result = row(table, key)

    expected = {c.name: key.get(c.name) for c in table.all_columns}
    if table.name == "meetings":
        expected["meetingKey"] = "event:evt-1"
    if table.change_detection == "content":
        expected["_driftsync_hash"] = content_hash(key)
    assert result == expected


def test_explicit_nulls_are_null() -> None:
    record = {"id": 1, "participants": None, "status": None, "relatedPlaybookId": None,
              "createdAt": None}

    result = row(CONVERSATIONS, record)

    assert (result["participants"], result["status"], result["relatedPlaybookId"],
            result["createdAt"], result["createdAt_ts"], result["_extra"]) == (
        None, None, None, None, None, None)


def test_unknown_fields_go_to_extra_as_json() -> None:
    record = {"id": 1, "status": "open", "zeta": [1, {"b": None}], "alpha": "x",
              "createdAt_ts": 5, "_extra": {"nested": True}}

    assert extra(CONVERSATIONS, record) == {"alpha": "x", "createdAt_ts": 5,
                                            "_extra": {"nested": True}, "zeta": [1, {"b": None}]}
    assert row(CONVERSATIONS, record)["createdAt_ts"] is None


def test_extra_is_per_row() -> None:
    result = to_arrow(CONVERSATIONS, [{"id": 1}, {"id": 2, "new": 1}, {"id": 3}])

    assert result.column("_extra").to_pylist() == [None, '{"new":1}', None]


@pytest.mark.parametrize(
    ("value", "stored", "kept"),
    [
        (63505, 63505, None),
        ("63505", 63505, None),
        (" 63505 ", 63505, None),
        ("-12", -12, None),
        (63505.0, 63505, None),
        ("abc", None, "abc"),
        ("", None, ""),
        ("12abc", None, "12abc"),
        ("--5", None, "--5"),
        ("-", None, "-"),
        ("1.5", None, "1.5"),
        ("٣", None, "٣"),
        ("²", None, "²"),
        (1.5, None, 1.5),
        (True, None, True),
        (False, None, False),
        ([63505], None, [63505]),
        ({"id": 1}, None, {"id": 1}),
        (2**63, None, 2**63),
        ("9223372036854775808", None, "9223372036854775808"),
        (-(2**63), -(2**63), None),
    ],
    ids=["int", "numeric-string", "padded-string", "negative-string", "integral-float",
         "word", "empty-string", "digits-then-text", "double-minus", "lone-minus",
         "decimal-string", "arabic-indic-digit", "superscript-digit", "fraction", "true",
         "false", "list", "object", "above-int64", "above-int64-string", "int64-min"],
)
def test_related_playbook_id(value: Any, stored: int | None, kept: Any) -> None:
    record = {"id": 1, "relatedPlaybookId": value, "other": "x"}

    result = row(CONVERSATIONS, record)

    assert result["relatedPlaybookId"] == stored
    expected_extra = {"other": "x"} if kept is None else {"other": "x", "relatedPlaybookId": kept}
    assert orjson.loads(result["_extra"]) == expected_extra


@pytest.mark.parametrize(
    ("column", "value", "stored", "kept"),
    [
        ("verified", 1, None, 1),
        ("verified", 0, None, 0),
        ("verified", "true", True, None),
        ("verified", "FALSE", False, None),
        ("verified", "yes", None, "yes"),
        ("bot", True, True, None),
        ("bot", False, False, None),
    ],
    ids=["one-is-not-true", "zero-is-not-false", "text-true", "text-false", "yes",
         "true", "false"],
)
def test_booleans_and_integers_are_never_confused(column: str, value: Any, stored: Any,
                                                  kept: Any) -> None:
    record = {"id": 5, column: value}

    result = row(USERS, record)

    assert result[column] is stored
    assert extra(USERS, record) == (None if kept is None else {column: kept})


def test_bool_in_bigint_column_is_kept_not_cast() -> None:
    result = row(ACCOUNTS, {"accountId": "a", "ownerId": True, "createDateTime": False})

    assert (result["ownerId"], result["createDateTime"], result["createDateTime_ts"]) == (
        None, None, None)
    assert orjson.loads(result["_extra"]) == {"ownerId": True, "createDateTime": False}


@pytest.mark.parametrize(
    ("value", "stored", "kept"),
    [("open", "open", None), (7, "7", None), (1.5, "1.5", None), (True, "true", None),
     ({"s": 1}, None, {"s": 1}), (["open"], None, ["open"])],
    ids=["text", "int", "float", "bool", "object", "list"],
)
def test_text_columns(value: Any, stored: str | None, kept: Any) -> None:
    record = {"id": 1, "status": value}

    assert row(CONVERSATIONS, record)["status"] == stored
    assert extra(CONVERSATIONS, record) == (None if kept is None else {"status": kept})


@pytest.mark.parametrize(
    "text",
    ["Zoë 🚀 株式会社 ドリフト", "<b>Hi</b> &amp; &lt;script&gt;alert(1)&lt;/script&gt;",
     "tab\tnew\nline \\ \"quoted\" \u0000 nul", "  leading and trailing  ", "한국어 👩‍👩‍👧 e\u0301"],
    ids=["emoji-cjk", "html", "control-chars", "whitespace", "zwj-combining"],
)
def test_strings_are_kept_byte_exact(text: str) -> None:
    record = {"accountId": text, "name": text, "customProperties": [{"value": text}]}

    result = row(ACCOUNTS, record)

    assert result["name"] == text
    assert result["name"].encode("utf-8") == text.encode("utf-8")
    assert result["accountId"] == text
    assert orjson.loads(result["customProperties"]) == [{"value": text}]
    assert result["_extra"] is None


def test_json_columns_keep_any_json_value() -> None:
    records = [{"id": 1, "participants": []}, {"id": 2, "participants": "243266"},
               {"id": 3, "participants": 5}, {"id": 4, "participants": {"a": [1, 2]}},
               {"id": 5, "participants": [17035536800, None, 1.5, True]}]

    result = to_arrow(CONVERSATIONS, records)

    assert result.column("participants").to_pylist() == [
        "[]", '"243266"', "5", '{"a":[1,2]}', "[17035536800,null,1.5,true]"]
    assert result.column("_extra").to_pylist() == [None] * 5


def test_mixed_clean_and_unclean_rows_in_one_column() -> None:
    records = [{"id": 1, "inboxId": 5}, {"id": 2, "inboxId": "6"}, {"id": 3, "inboxId": "x"},
               {"id": 4}]

    result = to_arrow(CONVERSATIONS, records)

    assert result.column("inboxId").to_pylist() == [5, 6, None, None]
    assert result.column("_extra").to_pylist() == [None, None, '{"inboxId":"x"}', None]


@pytest.mark.parametrize(
    ("ms", "expected"),
    [
        (0, utc(1970, 1, 1)),
        (-1000, utc(1969, 12, 31, 23, 59, 59)),
        ("1528293067340", utc(2018, 6, 6, 13, 51, 7, 340000)),
        (253_402_300_799_999, utc(9999, 12, 31, 23, 59, 59, 999000)),
        (253_402_300_800_000, None),
        (-62_135_596_800_000, utc(1, 1, 1)),
        (-62_135_596_800_001, None),
        (-(2**63), None),
        (2**63 - 1, None),
    ],
    ids=["epoch", "before-epoch", "numeric-string", "last-ms-of-9999", "year-10000",
         "year-1", "before-year-1", "int64-min", "int64-max"],
)
def test_timestamp_range(ms: Any, expected: datetime | None) -> None:
    result = row(CONVERSATIONS, {"id": 1, "createdAt": ms})

    assert result["createdAt"] == int(ms)
    assert result["createdAt_ts"] == expected


@pytest.mark.parametrize(
    ("table", "record"),
    [
        (CONVERSATIONS, {"status": "open"}),
        (CONVERSATIONS, {"id": None}),
        (CONVERSATIONS, {"id": "abc"}),
        (CONVERSATIONS, {"id": True}),
        (USERS, {"name": "Ann"}),
        (ACCOUNTS, {"name": "Company Name"}),
        (ACCOUNTS, {"accountId": None}),
        (ACCOUNTS, {"accountId": {"id": 1}}),
    ],
    ids=["conversation-no-id", "conversation-null-id", "conversation-text-id",
         "conversation-bool-id", "user-no-id", "account-no-id", "account-null-id",
         "account-object-id"],
)
def test_record_without_primary_key_is_malformed(table: Table, record: dict[str, Any]) -> None:
    good = {table.key: "x_y.com" if table is ACCOUNTS else 1}

    with pytest.raises(MalformedResponseError) as caught:
        to_arrow(table, [good, record])

    assert str(caught.value) == (
        f"Drift sent a {table.name} record without a usable {table.key} (its primary "
        f"key), so it cannot be stored exactly once. GET {table.endpoint} returned it; report "
        "it to Drift support."
    )


def test_input_records_are_not_modified() -> None:
    records = [{"id": "1", "relatedPlaybookId": "x", "new": [1]}, {"id": 2, "status": 3}]
    before = copy.deepcopy(records)

    to_arrow(CONVERSATIONS, records)

    assert records == before


def test_no_records_is_an_empty_table_with_the_full_schema() -> None:
    result = to_arrow(ACCOUNTS, [])

    assert result.num_rows == 0
    assert result.schema == arrow_schema(ACCOUNTS)


# -- batches ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "size", "sizes"),
    [(0, 3, [0]), (1, 3, [1]), (3, 3, [3]), (7, 3, [3, 3, 1]), (9, 3, [3, 3, 3]),
     (5, 1, [1] * 5), (5, 100, [5])],
    ids=["none-one-empty-batch-carrying-the-schema", "one", "exactly-one-batch", "remainder", "exact-multiple", "size-1",
         "size-above-count"],
)
def test_batches_chunk_sizes(count: int, size: int, sizes: list[int]) -> None:
    records = [{"id": i, "status": "open"} for i in range(count)]

    tables = list(batches(CONVERSATIONS, iter(records), size))

    assert [t.num_rows for t in tables] == sizes
    assert [i for t in tables for i in t.column("id").to_pylist()] == list(range(count))
    assert all(t.schema == arrow_schema(CONVERSATIONS) for t in tables)


def test_batches_are_lazy() -> None:
    pulled: list[int] = []

    def records() -> Any:
        for i in range(10):
            pulled.append(i)
            yield {"id": i}

    chunks = batches(CONVERSATIONS, records(), 4)
    first = next(iter(chunks))

    assert first.column("id").to_pylist() == [0, 1, 2, 3]
    assert pulled == [0, 1, 2, 3]


@pytest.mark.parametrize("size", [0, -1], ids=["zero", "negative"])
def test_batches_size_must_be_positive(size: int) -> None:
    with pytest.raises(ValueError, match=r"^batch size must be at least 1$"):
        list(batches(CONVERSATIONS, [{"id": 1}], size))


# -- dlt hints ----------------------------------------------------------------------------


def test_dlt_columns_follow_the_catalog() -> None:
    hints = dlt_columns(CONVERSATIONS)

    assert list(hints) == [c.name for c in CONVERSATIONS.all_columns]
    assert hints["id"]["primary_key"] is True
    assert (hints["id"]["data_type"], hints["id"]["nullable"]) == ("bigint", False)
    assert hints["updatedAt"]["dedup_sort"] == "desc"
    assert (hints["createdAt_ts"]["data_type"], hints["createdAt_ts"]["timezone"]) == (
        "timestamp", True)
    assert (hints["participants"]["data_type"], hints["_extra"]["data_type"]) == ("json", "json")
    assert hints["status"]["data_type"] == "text"
    assert "primary_key" not in hints["contactId"]


# -- the tables beyond the spec ----------------------------------------------------------------

from driftsync.catalog import (  # noqa: E402
    ACCOUNT_CUSTOM_PROPERTIES,
    CONTACTS,
    CONVERSATION_PARTICIPANTS,
    CONVERSATION_TAGS,
    MEETINGS,
    MESSAGES,
)
from driftsync.transform import nested_rows  # noqa: E402


def test_contact_external_id_is_text_whether_drift_sends_a_number_or_a_string() -> None:
    table = to_arrow(CONTACTS, [
        {"id": 1, "attributes": {"externalId": 12341243}},
        {"id": 2, "attributes": {"externalId": "a12-1234"}},
        {"id": 3, "attributes": {"externalId": None}},
        {"id": 4, "attributes": {}},
    ]).to_pylist()
    assert [r["externalId"] for r in table] == ["12341243", "a12-1234", None, None]
    assert [r["_extra"] for r in table] == [None] * 4
    assert orjson.loads(table[0]["attributes"]) == {"externalId": 12341243}


def test_message_author_is_split_into_columns_and_unknown_author_keys_go_to_extra() -> None:
    (got,) = to_arrow(MESSAGES, [{
        "id": 9, "author": {"type": "user", "id": 5, "bot": True, "name": "Drift Bot"},
        "createdAt": 1000,
    }]).to_pylist()
    assert (got["authorType"], got["authorId"], got["authorBot"]) == ("user", 5, True)
    assert orjson.loads(got["_extra"]) == {"author": {"name": "Drift Bot"}}


def test_a_message_author_id_that_is_not_a_number_is_kept_in_extra() -> None:
    (got,) = to_arrow(MESSAGES, [{"id": 9, "author": {"type": "contact", "id": "anon-7"}}]
                      ).to_pylist()
    assert got["authorId"] is None
    assert orjson.loads(got["_extra"]) == {"author": {"id": "anon-7"}}


def test_a_meeting_is_keyed_by_event_and_slot_else_by_agent_contact_and_slot() -> None:
    rows = to_arrow(MEETINGS, [
        {"eventId": "abc", "agentId": 1, "schedulerId": 2, "slotStart": 3},
        {"eventId": "abc", "agentId": 1, "schedulerId": 2, "slotStart": 604800003,
         "isRecurring": True},  # the next occurrence of the same calendar event
        {"agentId": 1, "schedulerId": 2, "slotStart": 3},
        {"agentId": 1, "slotStart": 3},  # a booking without a contact still has a key
    ]).to_pylist()
    assert [r["meetingKey"] for r in rows] == ["event:abc@3", "event:abc@604800003",
                                               "slot:1:2:3", "slot:1::3"]
    with pytest.raises(MalformedResponseError):
        to_arrow(MEETINGS, [{"agentId": 1}])


def test_nested_rows_replace_a_parents_items_and_ignore_parents_without_the_field() -> None:
    conversations = [
        {"id": 1, "conversationTags": [{"name": "a", "color": "111111"}, {"name": "b"}],
         "participants": [7, 8]},
        {"id": "2", "conversationTags": [], "participants": []},
        {"id": 3},  # the list endpoint's shape: no tags field at all
        {"id": 4, "conversationTags": None, "participants": [None, "x", 9]},
        {"id": 5, "conversationTags": [{"color": "000000"}, "odd"]},  # no name: no row
    ]
    tags, parents = nested_rows(CONVERSATION_TAGS, CONVERSATIONS, conversations)
    assert tags == [{"name": "a", "color": "111111", "conversationId": 1},
                    {"name": "b", "conversationId": 1}]
    assert parents == [1, 2, 4, 5]
    people, parents = nested_rows(CONVERSATION_PARTICIPANTS, CONVERSATIONS, conversations)
    # None and "x" are no user ids: no row (the conversation's participants column keeps them)
    assert people == [{"conversationId": 1, "userId": 7}, {"conversationId": 1, "userId": 8},
                      {"conversationId": 4, "userId": 9}]
    assert to_arrow(CONVERSATION_PARTICIPANTS, people).num_rows == 3
    assert parents == [1, 2, 4]


@pytest.mark.parametrize(
    ("prop", "value", "number", "date_ms"),
    [
        ({"type": "NUMBER", "value": 1}, "1", 1.0, None),
        ({"type": "NUMBER", "value": "1,000"}, "1,000", 1000.0, None),
        ({"type": "NUMBER", "value": "-1,234,567.5"}, "-1,234,567.5", -1234567.5, None),
        # A comma that is no thousands separator makes no number (not 15, 123456 or 1000).
        ({"type": "STRING", "value": "1,5"}, "1,5", None, None),
        ({"type": "STRING", "value": "12,34,56"}, "12,34,56", None, None),
        ({"type": "STRING", "value": "1_000"}, "1_000", None, None),
        ({"type": "NUMBER", "value": 2.5}, "2.5", 2.5, None),
        ({"type": "STRING", "value": "acme"}, "acme", None, None),
        ({"type": "ENUMARRAY", "value": ["a", "b"]}, '["a","b"]', None, None),
        ({"type": "DATE", "value": 1700000000000}, "1700000000000", 1.7e12, 1700000000000),
        ({"type": "DATETIME", "value": "2024-01-02T03:04:05Z"}, "2024-01-02T03:04:05Z", None,
         1704164645000),
        ({"type": "DATE", "value": "not a date"}, "not a date", None, None),
        ({"type": "BOOLEAN", "value": True}, "true", None, None),
        ({"type": "NUMBER", "value": None}, None, None, None),
    ],
)
def test_custom_property_values_are_spelled_out_per_type(
    prop: dict[str, Any], value: Any, number: Any, date_ms: Any
) -> None:
    account = {"accountId": "a_1", "customProperties": [{"name": "p", "label": "P", **prop}]}
    rows, _ = nested_rows(ACCOUNT_CUSTOM_PROPERTIES, ACCOUNTS, [account])
    (got,) = to_arrow(ACCOUNT_CUSTOM_PROPERTIES, rows).to_pylist()
    assert (got["value"], got["numberValue"], got["dateValue"]) == (value, number, date_ms)
    assert (None if got["jsonValue"] is None else orjson.loads(got["jsonValue"])) == prop["value"]
    assert got["_extra"] is None
