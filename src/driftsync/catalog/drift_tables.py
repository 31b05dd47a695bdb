"""Tables beyond the spec: the rest of Drift's readable data.

Descriptions are ours, written from Drift's API reference (see ``API.md``); ``note`` records
where Drift's documentation is unsure or where driftsync chose something (a key, a scope).
Drift leaves out fields that are not set, so every column but the key may be NULL.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

import orjson

from .model import Column, Fanout, Nested, ParentRef, Table, Window

_MS = "Epoch milliseconds; the same instant is also stored as {name}_ts."


def _ms(name: str, description: str, note: str = "",
        path: tuple[str, ...] | None = None) -> Column:
    text = _MS.format(name=name)
    return Column(name, "bigint", description, epoch_ms=True, path=path,
                  note=f"{note} {text}".strip())


MESSAGES = Table(
    name="messages",
    title="Messages",
    description=(
        "Every message of every conversation: chat lines from the contact, agents and bots, "
        "private notes between agents, and edit events. Bodies are kept as Drift sends them "
        "(HTML); quote them as text when you display them."
    ),
    endpoint="/conversations/{id}/messages",
    records_path=("data", "messages"),
    pagination="cursor",
    page_size=50,
    primary_key="id",
    cursor="createdAt",
    scope="conversation_read",
    change_detection="parents",
    kind="fanout",
    fanout=Fanout(
        parents=(ParentRef("conversations", "id", "updatedAt"),),
        path="/conversations/{id}/messages",
        records_path=("data", "messages"),
        pagination="cursor",
    ),
    columns=(
        Column("id", "bigint", "The message's id, unique across the organization (int64).",
               nullable=False, note="Primary key."),
        Column("conversationId", "bigint", "The conversation the message belongs to."),
        Column("orgId", "bigint", "The Drift organization."),
        Column("authorType", "text", "Who wrote it: contact or user (agents and bots are users).",
               path=("author", "type")),
        Column("authorId", "bigint",
               "The contact id or user id of the author, depending on authorType.",
               path=("author", "id")),
        Column("authorBot", "boolean", "True when a bot wrote the message.",
               path=("author", "bot")),
        Column("type", "text",
               "chat, private_note, private_prompt, suggestion or edit (an edit event points "
               "at the message it changes through editedMessageId)."),
        Column("body", "text", "The message text as Drift renders it: HTML with entities.",
               note="NULL when Drift sends no body (button-only messages)."),
        _ms("createdAt", "When the message was posted."),
        Column("buttons", "json", "Buttons offered with the message, as Drift sends them.",
               note="JSON array; NULL when absent."),
        Column("context", "json", "Where the message came from: the sender's ip and userAgent.",
               note="JSON object."),
        Column("attributes", "json",
               "Extra information Drift attaches to some messages (for example preMessages).",
               note="JSON object."),
        Column("editedMessageId", "bigint", "For an edit message: the id of the message edited."),
        Column("editType", "text",
               "For an edit message: delete, replace, replace_body or replace_buttons."),
        Column("attachments", "json", "Files sent with the message: id, fileName, mimeType, url.",
               note="JSON array."),
    ),
    detail_note=(
        "Read per conversation, every page (pagination.more/next, 50 messages a page). An "
        "incremental run reads only the conversations whose updatedAt moved since their "
        "messages were last read."
    ),
)


CONTACTS = Table(
    name="contacts",
    title="Contacts",
    description=(
        "The people on the other side of conversations and meetings: site visitors and leads. "
        "Drift keeps a contact as an open map of attributes; the well-known ones are columns "
        "here and the whole map is kept in attributes, custom attributes included."
    ),
    endpoint="/contacts/{id}",
    records_path=("data",),
    pagination="none",
    page_size=None,
    primary_key="id",
    cursor=None,
    scope="contact_read",
    change_detection="parents",
    kind="fanout",
    fanout=Fanout(
        parents=(ParentRef("conversations", "contactId", "updatedAt"),
                 ParentRef("meetings", "schedulerId", "updatedAt")),
        path="/contacts/{id}",
        records_path=("data",),
        single=True,
    ),
    detail_note=(
        "Drift has no endpoint that lists contacts, so driftsync reads GET /contacts/{id} for "
        "each contactId of the conversations and schedulerId of the meetings; an incremental "
        "run reads a contact again only when one of its conversations or meetings changed."
    ),
    columns=(
        Column("id", "bigint", "The contact's id (int64).", nullable=False, note="Primary key."),
        _ms("createdAt", "When Drift first captured the contact."),
        Column("email", "text", "The contact's e-mail address (not unique in Drift).",
               path=("attributes", "email")),
        Column("name", "text", "The contact's name.", path=("attributes", "name")),
        Column("phone", "text", "The contact's phone number.", path=("attributes", "phone")),
        Column("externalId", "text", "The id another system gave the contact.",
               path=("attributes", "externalId"),
               note="Drift sends it as a number or as a string; stored as text."),
        _ms("last_active", "When the contact was last active on the site.",
            note="From attributes.last_active.", path=("attributes", "last_active")),
        _ms("start_date", "When the contact started (first visit).",
            note="From attributes.start_date.", path=("attributes", "start_date")),
        Column("attributes", "json",
               "Every attribute of the contact, Drift's and custom ones, as Drift sends them.",
               note="JSON object; the columns above are copies of some of its keys."),
    ),
)


CONTACT_ATTRIBUTES = Table(
    name="contact_attributes",
    title="Contact attributes",
    description=(
        "The definitions of the contact attributes of the organization, Drift's and custom "
        "ones: the keys you find in contacts.attributes, with their display name and type."
    ),
    endpoint="/contacts/attributes",
    records_path=("data", "properties"),
    pagination="none",
    page_size=None,
    primary_key="name",
    cursor=None,
    scope="all_contact_read",
    scope_note="Drift requires this elevated scope to list attribute definitions.",
    columns=(
        Column("name", "text", "The attribute's key in contacts.attributes.", nullable=False,
               note="Primary key."),
        Column("displayName", "text", "The name shown in Drift's interface."),
        Column("type", "text", "The attribute's type, for example STRING or NUMERIC."),
    ),
)


def _property_value_columns() -> tuple[Column, ...]:
    return (
        Column("value", "text",
               "The value as text: strings as sent, numbers and booleans in their JSON "
               "spelling, lists and objects as JSON."),
        Column("numberValue", "double",
               "The value as a number, when it is one (or a string that reads as one)."),
        Column("dateValue", "bigint",
               "For DATE and DATETIME properties: the value as epoch milliseconds (Drift "
               "sends epoch milliseconds or an ISO 8601 date).", epoch_ms=True,
               note="Also stored as dateValue_ts."),
        Column("jsonValue", "json", "The value exactly as Drift sent it, as JSON."),
    )


def property_values(item: dict[str, Any]) -> dict[str, Any]:
    """A custom property with its value spelled out per type. Drift's value is a number, a
    string or a list depending on the property type, and the same property can arrive with
    different types from one account to the next: every form gets its own column, and a
    form that does not fit is NULL, never an error."""
    value = item.get("value")
    row = {k: v for k, v in item.items() if k != "value"}
    row["jsonValue"] = value
    if value is None or isinstance(value, str):
        row["value"] = value
    elif isinstance(value, bool):
        row["value"] = "true" if value else "false"
    elif isinstance(value, int | float):
        row["value"] = str(value)
    else:
        row["value"] = orjson.dumps(value).decode()
    row["numberValue"] = _number(value)
    kind = str(item.get("type") or "").upper()
    row["dateValue"] = _epoch_ms(value) if kind in ("DATE", "DATETIME") else None
    return row


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        text = value.strip()
        if "_" in text or ("," in text and not _GROUPED.fullmatch(text)):
            return None  # "1,5" is not 15, nor "1_000" a number outside Python
        try:
            number = float(text.replace(",", ""))
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


_GROUPED = re.compile(r"[+-]?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]*)?")
"""A number whose commas separate thousands: 1,000 or -1,234,567.5."""


def _epoch_ms(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return int(text)
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return int(when.timestamp() * 1000)
    return None


ACCOUNT_CUSTOM_PROPERTIES = Table(
    name="account_custom_properties",
    title="Account custom properties",
    description=(
        "One row per custom property of each account, so they can be filtered and joined "
        "without unpacking accounts.customProperties. The value is kept as text and, where it "
        "fits, as a number or a timestamp; a property whose value type differs between "
        "accounts loads like any other."
    ),
    endpoint="/accounts",
    records_path=("data", "accounts"),
    pagination="offset",
    page_size=None,
    primary_key=("accountId", "name"),
    cursor=None,
    scope="account_read",
    change_detection="cursor",
    kind="nested",
    nested=Nested(parent="accounts", field="customProperties", parent_column="accountId",
                  enrich=property_values),
    columns=(
        Column("accountId", "text", "The account (accounts.accountId).", nullable=False),
        Column("name", "text", "The property's internal name, as Drift sends it.",
               nullable=False, note="Kept verbatim: Drift has been seen sending a leading space."),
        Column("label", "text", "The property's readable name."),
        Column("type", "text",
               "Drift's property type: STRING, EMAIL, NUMBER, PHONE, URL, DATE, DATETIME, ENUM, "
               "ENUMARRAY, LATLON, LAT, LON or TEAMMEMBER."),
        *_property_value_columns(),
    ),
)

CONVERSATION_TAGS = Table(
    name="conversation_tags",
    title="Conversation tags",
    description="One row per tag on each conversation (conversations.conversationTags).",
    endpoint="/conversations/{id}",
    records_path=("data",),
    pagination="none",
    page_size=None,
    primary_key=("conversationId", "name"),
    cursor=None,
    scope="conversation_read",
    change_detection="cursor",
    kind="nested",
    nested=Nested(parent="conversations", field="conversationTags",
                  parent_column="conversationId"),
    columns=(
        Column("conversationId", "bigint", "The conversation (conversations.id).",
               nullable=False),
        Column("name", "text", "The tag's name.", nullable=False),
        Column("color", "text", "The tag's color as a hex code, without '#'."),
    ),
)

CONVERSATION_PARTICIPANTS = Table(
    name="conversation_participants",
    title="Conversation participants",
    description=(
        "One row per user taking part in each conversation (conversations.participants)."
    ),
    endpoint="/conversations/{id}",
    records_path=("data",),
    pagination="none",
    page_size=None,
    primary_key=("conversationId", "userId"),
    cursor=None,
    scope="conversation_read",
    change_detection="cursor",
    kind="nested",
    nested=Nested(parent="conversations", field="participants",
                  parent_column="conversationId", scalar="userId"),
    columns=(
        Column("conversationId", "bigint", "The conversation (conversations.id).",
               nullable=False),
        Column("userId", "bigint", "The participating user (users.id).", nullable=False),
    ),
)

PLAYBOOKS = Table(
    name="playbooks",
    title="Playbooks",
    description=(
        "The organization's playbooks (Drift's bots and campaigns). Drift lists only enabled, "
        "active ones, so a conversation's relatedPlaybookId may name a playbook missing here."
    ),
    endpoint="/playbooks/list",
    records_path=(),
    pagination="none",
    page_size=None,
    primary_key="id",
    cursor="updatedAt",
    scope="playbook_read",
    columns=(
        Column("id", "bigint", "The playbook's id.", nullable=False, note="Primary key."),
        Column("name", "text", "The playbook's name."),
        Column("orgId", "bigint", "The Drift organization."),
        Column("meta", "json", "Drift's metadata about the playbook.", note="JSON object."),
        _ms("createdAt", "When the playbook was created."),
        _ms("updatedAt", "When the playbook was last changed."),
        Column("createdAuthorId", "bigint", "The user who created it."),
        Column("updatedAuthorId", "bigint", "The user who last changed it."),
        Column("interactionId", "bigint", "Drift's interaction id for the playbook."),
        Column("reportType", "text", "The playbook's goal type, for example BOOK_MORE_MEETINGS."),
        Column("goals", "json", "The playbook's goals: id (a UUID) and message.",
               note="JSON array."),
    ),
)

CONVERSATIONAL_LANDING_PAGES = Table(
    name="conversational_landing_pages",
    title="Conversational landing pages",
    description="Drift's conversational landing pages: the playbook behind each and its URL.",
    endpoint="/playbooks/clp",
    records_path=(),
    pagination="none",
    page_size=None,
    primary_key="playbookId",
    cursor=None,
    scope="playbook_read",
    scope_note="Drift does not document this endpoint's scope; playbook_read is assumed.",
    columns=(
        Column("playbookId", "bigint", "The playbook that runs the page (playbooks.id).",
               nullable=False, note="Primary key: one landing page per playbook."),
        Column("playbookName", "text", "The playbook's name."),
        Column("landingPageUrl", "text", "The page's URL."),
    ),
)

TEAMS = Table(
    name="teams",
    title="Teams",
    description="The organization's teams of users, with their members and availability rules.",
    endpoint="/teams/org",
    records_path=("data",),
    pagination="none",
    page_size=None,
    primary_key="id",
    cursor="updatedAt",
    scope="user_read",
    scope_note="Drift does not document this endpoint's scope; user_read is assumed.",
    columns=(
        Column("id", "bigint", "The team's id.", nullable=False, note="Primary key."),
        Column("orgId", "bigint", "The Drift organization."),
        Column("workspaceId", "text", "The workspace the team belongs to (a UUID)."),
        Column("name", "text", "The team's name."),
        _ms("updatedAt", "When the team was last changed."),
        Column("members", "json", "The user ids of the team's members.",
               note="JSON array of integers."),
        Column("owner", "bigint", "The user who owns the team."),
        Column("status", "text", "ENABLED or ARCHIVED."),
        Column("main", "boolean", "True for the organization's main team."),
        Column("autoOffline", "boolean", "Whether members go offline automatically."),
        Column("teamAvailabilityMode", "text",
               "ALWAYS_ONLINE, ALWAYS_OFFLINE or CUSTOM_HOURS."),
        Column("responseTimerEnabled", "boolean", "Whether the response timer is on."),
        Column("teamCsatEnabled", "boolean", "Whether CSAT surveys are on for the team."),
    ),
)


def meeting_key(record: dict[str, Any]) -> str | None:
    """A stable key for a meeting, which Drift does not give. The calendar event id alone is
    not enough: a recurring meeting's occurrences may share it, and one would overwrite the
    next. So the key is the event and the slot's start; without an event, the agent, the
    contact and the slot, which together name one booking (a part Drift leaves out stays
    empty). Only a meeting with neither an event nor a slot has no key."""
    event = record.get("eventId")
    start = record.get("slotStart")
    if isinstance(event, str) and event.strip():
        return f"event:{event}" if start is None else f"event:{event}@{start}"
    if start is None:
        return None
    parts = [record.get("agentId"), record.get("schedulerId"), start]
    return "slot:" + ":".join("" if p is None else str(p) for p in parts)


MEETINGS = Table(
    name="meetings",
    title="Meetings",
    description=(
        "Meetings booked with the organization's agents, through chat or e-mail. Drift serves "
        "only meetings whose slot starts at most 30 days ago, so sync at least monthly to keep "
        "them all; rows older than that stay in the table."
    ),
    endpoint="/users/meetings/org",
    records_path=("data",),
    pagination="none",
    page_size=None,
    primary_key="meetingKey",
    cursor="updatedAt",
    scope="user_read",
    kind="window",
    window=Window(column="slotStart", min_param="min_start_time", max_param="max_start_time",
                  cap=1000, days_back=30, days_ahead=365),
    key_note=(
        "Drift gives meetings no id. meetingKey is 'event:<eventId>@<slotStart>' (the calendar "
        "event and the slot's start, so the occurrences of a recurring meeting stay apart) when "
        "Drift sends an eventId, else 'slot:<agentId>:<schedulerId>:<slotStart>'."
    ),
    columns=(
        Column("meetingKey", "text", "Added by driftsync: the meeting's key.", nullable=False,
               derive=meeting_key,
               note="'event:<eventId>@<slotStart>', or "
                    "'slot:<agentId>:<schedulerId>:<slotStart>' when Drift sends no eventId."),
        Column("eventId", "text", "The calendar event of the meeting."),
        Column("agentId", "bigint", "The user the meeting is with (users.id)."),
        Column("orgId", "bigint", "The Drift organization."),
        Column("status", "text", "ACTIVE or CANCELED."),
        Column("meetingSource", "text", "How it was booked, for example EMAIL_DROP or WIDGET."),
        Column("schedulerId", "bigint", "The contact who booked it (contacts.id)."),
        Column("slug", "text", "The agent's booking page slug."),
        _ms("slotStart", "When the meeting starts."),
        _ms("slotEnd", "When the meeting ends."),
        _ms("updatedAt", "When the booking was last changed."),
        _ms("scheduledAt", "When the meeting was booked."),
        Column("meetingType", "text", "The kind of meeting."),
        Column("conversationId", "bigint", "The conversation it was booked in, if any."),
        Column("endUserTimeZone", "text", "The contact's time zone."),
        Column("meetingNotes", "text", "Notes written when booking."),
        Column("bookedBy", "bigint", "The user who booked it on the contact's behalf, if any."),
    ),
)
