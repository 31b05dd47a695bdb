"""The three tables of the product spec (Acho Studio's Drift page): accounts, conversations, users.

Column descriptions are the spec's words, verbatim; ``note`` says where Drift differs.
"""

from __future__ import annotations

from .model import Column, Table

_MS = "Drift sends epoch milliseconds; the same instant is also stored as {name}_ts."

ACCOUNTS = Table(
    name="accounts",
    title="Accounts",
    description=(
        "Accounts are used in Drift's paid plans and can be queried/modified using the endpoints "
        "described in this section. Accounts can be used for ABM (account-based marketing) in "
        "Drift, and can be tied to the display conditions of particular playbooks - enabling "
        "account-specific marketing strategies."
    ),
    endpoint="/accounts",
    records_path=("data", "accounts"),
    pagination="offset",
    page_size=100,
    primary_key="accountId",
    cursor="updateDateTime",
    scope="account_read",
    columns=(
        Column("ownerId", "bigint", "The ID of the owner in Drift (should be a known user ID)",
               spec_type="integer",
               note="Not unique: one owner has many accounts, so the key is accountId."),
        Column("name", "text", "The name of the company", spec_type="string"),
        Column("domain", "text", "The domain of the company", spec_type="string"),
        Column("accountId", "text", "Identifier for the company (used for lookup)",
               spec_type="string", nullable=False, note="Primary key."),
        Column("customProperties", "json",
               "List of custom properties associated with the account.", spec_type="array",
               note=(
                   "Stored as a JSON array of objects {label, name, value, type}: label is the "
                   "readable name, name the internal name, value the value (its JSON type "
                   "follows type), type one of STRING, EMAIL, NUMBER, TEAMMEMBER, ENUM, DATE, "
                   "DATETIME, LATLON, LAT, LON, PHONE, URL, ENUMARRAY."
               )),
        Column("deleted", "boolean",
               "Is the account deleted (deleted accounts won't be visible in drift, but are "
               "retrievable by id for auditing).", spec_type="boolean"),
        Column("createDateTime", "bigint", "The timestamp creation time of the account",
               spec_type="integer", epoch_ms=True, note=_MS.format(name="createDateTime")),
        Column("updateDateTime", "bigint", "The timestamp last updated time of the account",
               spec_type="integer", epoch_ms=True, note=_MS.format(name="updateDateTime")),
        Column("targeted", "boolean", "Is the account currently targeted", spec_type="boolean"),
    ),
)

CONVERSATIONS = Table(
    name="conversations",
    title="Conversations",
    description=(
        "Conversations are the core objects in Drift. They represent a series of messages "
        "exchanged between a single contact and a group of users. Users are the employees of "
        "the organization or a bot. Each conversation has a time-ordered set of messages "
        "representing chat messages, internal notes, and metadata events within that "
        "communication"
    ),
    endpoint="/conversations/list",
    records_path=("data",),
    pagination="conversation_list",
    page_size=100,
    primary_key="id",
    cursor="updatedAt",
    scope="conversation_read",
    change_detection="cursor",
    detail_endpoint="/conversations/{id}",
    detail_note=(
        "Drift's list endpoint omits participants, conversationTags and relatedPlaybookId; "
        "driftsync reads them from GET /conversations/{id} for each listed conversation "
        "(turn off with --no-conversation-details)."
    ),
    columns=(
        Column("id", "bigint",
               "Conversations are uniquely identified by an id, which can be used to check its "
               "current state and its messages.", spec_type="integer", nullable=False,
               note="Primary key; an int64."),
        Column("participants", "json",
               "Each conversation has a set of participants; Drift Users who are taking part in, "
               "or responsible for communication with the Contact. This field is a set of ids "
               "that uniquely identify each User.", spec_type="integer",
               note="The spec says integer, but Drift sends a list of user ids: stored as a "
                    "JSON array of integers."),
        Column("status", "text",
               "Conversations in Drift are organized by their status: open Conversations are "
               "active and should be responded to, pending ones are waiting on follow up, closed "
               "are handled and not actively being communicated with. and bulk_sent are playbook "
               "messages that have reached an end user but not been interacted with. "
               "Conversations may move in between any of these statuses as users change them or "
               "new events cause them (e.g. if a contact sends a new message in a closed "
               "conversation, its status will be changed to open).", spec_type="integer",
               note="The spec says integer, but Drift sends a string: open, closed, pending or "
                    "bulk_sent."),
        Column("contactId", "bigint",
               "The id of the contact that's being communicated with in this conversation as a "
               "long value (int64).", spec_type="integer"),
        Column("createdAt", "bigint",
               "A Unix timestamp representing the moment that the conversation was created.",
               spec_type="integer", epoch_ms=True, note=_MS.format(name="createdAt")),
        Column("updatedAt", "bigint",
               "A Unix timestamp representing the moment that the conversation was updated. For "
               "example, updated due to a status change or new message post.",
               spec_type="integer", epoch_ms=True, note=_MS.format(name="updatedAt")),
        Column("orgId", "bigint", "The Drift organization this conversation belongs to.",
               spec_type="integer",
               note="Drift's list and get payloads usually leave it out; then it is NULL."),
        Column("inboxId", "bigint",
               "The inbox this conversation belongs to, can reconstruct drift conversation "
               "links via: https://app.drift.com/inboxes/{inboxId}/conversations/{conversationId}",
               spec_type="integer"),
        Column("conversationTags", "json",
               "Any tags applied to the conversation, include their color appearance in the "
               "conversation view within drift.", spec_type="array",
               note="Stored as a JSON array of objects {color, name}."),
        Column("relatedPlaybookId", "bigint",
               "This is the ID of the playbook that initiated the conversation. Conversations "
               "started from the default welcome message will not include a relatedPlaybookId "
               "in the conversation payload. This will be included in the response of the GET "
               "conversation endpoint if present.", spec_type="integer",
               note="Drift has been seen sending it as a string: numeric strings are stored as "
                    "integers, any other value is kept in _extra."),
    ),
)

USERS = Table(
    name="users",
    title="Users",
    description=(
        'The word "User" is used to describe internal agents to your organization or account - '
        "while site visitors or contacts are those that are interacting from your website."
    ),
    endpoint="/users/list",
    records_path=("data",),
    pagination="none",
    page_size=None,
    primary_key="id",
    cursor="updatedAt",
    scope="user_read",
    columns=(
        Column("id", "bigint",
               "The Drift identifier for the user. This is will always be numeric.",
               spec_type="integer", nullable=False, note="Primary key."),
        Column("createdAt", "bigint",
               "Timestamp (milliseconds) representing when the user was created",
               spec_type="integer", epoch_ms=True,
               note="The spec lists createdAt twice; its other entry reads 'A unix timestamp "
                    "for when the contact was first captured.' Drift sends one createdAt per "
                    "user. " + _MS.format(name="createdAt")),
        Column("name", "text", "The name of the user", spec_type="string"),
        Column("alias", "text", "The short hand name for the user (if present)",
               spec_type="string"),
        Column("email", "text", "The email of the user", spec_type="string"),
        Column("phone", "text", "The phone number associated with the user", spec_type="string"),
        Column("locale", "text", "The locale for the user", spec_type="string"),
        Column("availability", "text",
               'Description of user\'s current state: one of "AVAILABLE", "OFFLINE", "ON_CALL".',
               spec_type="string"),
        Column("role", "text", 'Role of Drift user: one of "member", "admin", "agent"',
               spec_type="string"),
        Column("timeZone", "text", "Timezone for the user represented as a string (if known)",
               spec_type="string"),
        Column("avatarUrl", "text", "The url for the user's avatar (profile) image",
               spec_type="string"),
        Column("verified", "boolean",
               "Is the user account verified? i.e. belongs to an actual person / not manually "
               "created?", spec_type="boolean"),
        Column("bot", "boolean", "Is the user a bot user?", spec_type="boolean"),
        Column("updatedAt", "bigint",
               "timestamp (milliseconds) representing when the user was last updated",
               spec_type="integer", epoch_ms=True, note=_MS.format(name="updatedAt")),
    ),
)
