"""Deterministic dataset generator for the Drift API simulator.

``generate_dataset(config)`` returns the same records for the same ``seed`` and sizes, on any
machine and Python process (only ``random.Random(seed)`` and fixed anchors are used, never the
wall clock or hash order).

Sample records (``samples/``) are part of the dataset when ``config.include_samples`` is true
and **count toward the requested sizes**:

* conversations: up to 5 — the full conversation 116119985 (``conversation_get.json``), the
  v2 list record and the 3 v1 list records, in that priority when fewer are requested. The four
  list-only records are served by ``GET /conversations/{id}`` with their list fields only.
* accounts: the one account of ``account.json`` (first account).
* users: Drift has no user sample record, but the user ids the samples refer to (participants
  243266 and 252465 of conversation 116119985, account owner 21965, and 228225 from the
  users multi-get example) are given to the first generated users so references resolve.
* messages: the two documented messages are messages of conversation 116119985.
* contacts: the two documented contacts (1234567890, 349999553) are the contacts of two
  generated conversations (the first created after each contact); they are served verbatim.
* playbooks, teams, meetings: the documented playbook, team and meeting come first (the meeting
  is booked by the contact of conversation 116119985, slot 2026-12-21).

Everything else is generated. Records are plain dicts, exactly as the simulator serves them
(key order included). Conversations, accounts, users and the token are drawn exactly as
before messages, contacts, meetings, playbooks and teams existed, from the same rng stream;
the newer collections come from rngs seeded after them. Two deliberate changes to older data:
the two generated conversations above carry the documented contact ids, and every 4th
generated account with custom properties gains an ``employees`` NUMBER property whose value
is a number in some accounts and a string such as ``"1,000"`` in others.

Messages, contacts and meetings are not materialised here: ``messages.py``, ``contacts.py``
and ``meetings.py`` derive them on demand from per-id seeded rngs.
"""

from __future__ import annotations

import gc
import json
import math
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from .config import SimulatorConfig
from .meetings import MeetingPlan, gen_meetings
from .org import contact_attribute_defs, gen_playbooks, gen_teams

LIST_FIELDS = ("status", "contactId", "createdAt", "id", "inboxId", "updatedAt")
STATUSES = ("open", "closed", "pending", "bulk_sent")
STATUS_IDS = {1: "open", 2: "closed", 3: "pending"}

# Fixed anchors (never the wall clock): generated activity lies in [2019-01-01, 2025-01-01).
_T_START = 1546300800000
_T_END = 1735689600000
_DAY = 86_400_000

#: The simulator's default "now": later than every generated timestamp (accounts are updated
#: up to ~2026-12, users up to ~2026-02, conversations up to ~2025-04).
NOW_MS = 1798761600000  # 2027-01-01T00:00:00Z

_SAMPLE_USER_IDS = (243266, 252465, 21965, 228225)
#: The documented contacts (id, createdAt): each becomes the contact of a generated
#: conversation created after it (samples/contact_get.json, samples/contact_model.json).
_SAMPLE_CONTACTS = ((1234567890, 1617825403810), (349999553, 1506971031434))
#: The conversation the documented messages belong to (samples/message*.json).
SAMPLE_MESSAGES_CONVERSATION = 116119985

# --- text pools: unicode, CJK, emoji, HTML, quotes ------------------------------------------
_HTML = "<b>bold</b> & <script>alert(1)</script>"
_FIRST = (
    "José",
    "Zoë",
    "Ana",
    "Björn",
    "Chloé",
    "Łukasz",
    "Søren",
    "Mary",
    "Tom",
    "Ngozi",
    "王",
    "佐藤",
    "김",
    "Иван",
    "Ελένη",
    "Priya",
    "Dwayne",
    "Amélie",
    "Jürgen",
    "Nuño",
)
_LAST = (
    "Müller",
    "García",
    "O'Brien",
    "小明",
    "花子",
    "민준",
    "Petrov",
    "Παπαδοπούλου",
    "Smith",
    "Núñez",
    "Dubois",
    "Kowalski",
    "Øberg",
    "Nakamura",
    "D'Angelo",
    "Ng",
)
_SPECIAL_NAMES = (
    _HTML,
    'Dwayne "The Rock" Johnson',
    "Zoë 🚀 Étoile",
    "陈静 (Chén Jìng)",
    "Ana-María 'Ani' Núñez 💬",
    "  padded name  ",
)
_ALIASES = ("Jo", "Zo 🌟", "小明", "Bjö", 'the "closer"', _HTML, "Ana ❤️", "Ivan")
_COMPANY_WORDS = (
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark",
    "Wayne",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Vandelay",
    "Wonka",
    "Aperture",
    "Pied Piper",
    "Müller & Söhne",
    "東京商事",
    "Café Zoë",
    "Ωmega",
    "Blue Sky 🌤️",
    "Łódź Tech",
)
_COMPANY_SUFFIX = ("Inc.", "GmbH", "Ltd", "S.A.", "株式会社", "LLC", "Co.", "")
_TLDS = ("com", "io", "de", "fr", "co.jp", "com.br", "net", "example")
_TAG_NAMES = (
    "vip",
    "follow-up",
    "Qualifié ✅",
    "营销",
    "🔥 hot lead",
    _HTML,
    'say "hi"',
    "it's complicated",
    "Ünïcödé",
    "日本語タグ",
    "billing",
    "churn-risk",
)
_NOTES = (
    "Renewal in Q3 — talk to Zoë",
    "顧客は満足しています 😊",
    _HTML,
    'Said "maybe later"',
    "Prefers e-mail; don't call",
    "Ελληνικά κείμενα",
    "",
    "multi\nline\nnote",
    "Tab\tseparated",
)
_LOCALES = ("en-US", "fr-FR", "de-DE", "ja-JP", "pt-BR", "zh-CN", "es-ES", "ko-KR")
_TIMEZONES = (
    "America/New_York",
    "Europe/Paris",
    "Asia/Tokyo",
    "America/Sao_Paulo",
    "Europe/Berlin",
    "Asia/Shanghai",
    "America/Los_Angeles",
    "Australia/Sydney",
)
_AVAILABILITY = ("AVAILABLE", "OFFLINE", "ON_CALL")
_ROLES = ("member", "admin", "agent")
_INDUSTRIES = ("SaaS", "Manufacturing", "Santé", "金融", "Retail 🛒", "Logistics")
_PRODUCTS = ("Chat", "Email", "Video", "Meetings", "Conversational AI", "Intel")

# Account custom property schema of the simulated org: (label, name, type).
# The first one is the property of the documented sample account (leading space kept).
_CUSTOM_PROPS = (
    ("My Number", " my number", "NUMBER"),
    ("Industry", "industry", "ENUM"),
    ("Notes", "notes", "STRING"),
    ("Billing Email", "billing_email", "EMAIL"),
    ("Account Manager", "account_manager", "TEAMMEMBER"),
    ("Renewal Date", "renewal_date", "DATE"),
    ("Last Review", "last_review", "DATETIME"),
    ("HQ Location", "hq_location", "LATLON"),
    ("Latitude", "latitude", "LAT"),
    ("Longitude", "longitude", "LON"),
    ("Main Phone", "main_phone", "PHONE"),
    ("Website", "website", "URL"),
    ("Products", "products", "ENUMARRAY"),
    ("Annual Revenue (€)", " annual revenue", "NUMBER"),
)


@dataclass
class Dataset:
    """Everything the simulator serves. Lists hold dicts exactly as served."""

    org_id: int
    #: Full conversations (as inside ``data`` of GET /conversations/{id}), ordered like
    #: GET /conversations/list: ``updatedAt`` desc, then ``id`` desc.
    conversations: list[dict[str, Any]] = field(default_factory=list)
    #: Accounts in GET /accounts order (includes ``deleted: true`` ones).
    accounts: list[dict[str, Any]] = field(default_factory=list)
    #: Users as in GET /users/list.
    users: list[dict[str, Any]] = field(default_factory=list)
    #: Non-secret metadata of the simulated token for POST /app/token_info.
    token_meta: dict[str, Any] = field(default_factory=dict)
    #: The simulated "now" at start (``config.now_ms`` or :data:`NOW_MS`).
    now_ms: int = NOW_MS
    #: GET /playbooks/list (bare array) and GET /playbooks/clp (bare array).
    playbooks: list[dict[str, Any]] = field(default_factory=list)
    landing_pages: list[dict[str, Any]] = field(default_factory=list)
    #: ``data`` of GET /teams/org.
    teams: list[dict[str, Any]] = field(default_factory=list)
    #: ``data.properties`` of GET /contacts/attributes.
    contact_attributes: list[dict[str, Any]] = field(default_factory=list)
    #: Booked meetings, compact (see ``meetings.py``).
    meetings: MeetingPlan = field(default_factory=MeetingPlan)
    #: Conversations whose message count is pinned (id -> count: 0, or > 50 for paging).
    message_plan: dict[int, int] = field(default_factory=dict)
    #: Documented messages by conversation id (they are real messages of that conversation).
    sample_messages: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    #: Documented contacts by id (``data`` objects), served verbatim.
    sample_contacts: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: Generated contacts whose name is pinned (id -> name).
    contact_names: dict[int, str] = field(default_factory=dict)

    def list_item(self, conversation: dict[str, Any]) -> dict[str, Any]:
        return list_item(conversation)

    def conversation(self, conversation_id: int) -> dict[str, Any] | None:
        for conv in self.conversations:
            if conv["id"] == conversation_id:
                return conv
        return None


def list_item(conversation: dict[str, Any]) -> dict[str, Any]:
    """The ``GET /conversations/list`` item of a full conversation (six fields, list order)."""
    c = conversation
    try:  # fast path: all six fields present (a dict display is ~5x faster than the loop)
        return {
            "status": c["status"],
            "contactId": c["contactId"],
            "createdAt": c["createdAt"],
            "id": c["id"],
            "inboxId": c["inboxId"],
            "updatedAt": c["updatedAt"],
        }
    except KeyError:
        return {k: c[k] for k in LIST_FIELDS if k in c}


def sort_conversations(conversations: list[dict[str, Any]]) -> None:
    """Sort in place like the list endpoint: updatedAt desc, tie-break id desc."""
    conversations.sort(key=lambda c: (c["updatedAt"], c["id"]), reverse=True)


def load_sample(name: str) -> Any:
    """Parse one of the packaged sample files (``samples/<name>``)."""
    text = resources.files(__package__).joinpath("samples", name).read_text(encoding="utf-8")
    return json.loads(text)


def sample_conversations() -> list[dict[str, Any]]:
    """The sample conversations in inclusion priority order (full one first)."""
    full = load_sample("conversation_get.json")["data"]
    v2 = load_sample("conversations_list_v2.json")["data"]
    v1 = load_sample("conversations_list_v1.json")["data"]
    return [full, *v2, *v1]


def sample_account() -> dict[str, Any]:
    return load_sample("account.json")["data"]


def sample_contacts() -> dict[int, dict[str, Any]]:
    """The documented contacts as ``data`` objects, by id."""
    out = {}
    for record in (load_sample("contact_get.json")["data"], load_sample("contact_model.json")):
        out[record["id"]] = record
    return out


# --------------------------------------------------------------------------------------------


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while building many small acyclic objects (2-3x faster)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def generate_dataset(config: SimulatorConfig | None = None) -> Dataset:
    """Build the deterministic dataset described by ``config`` (no server)."""
    with gc_paused():
        return _generate(config or SimulatorConfig())


def _generate(cfg: SimulatorConfig) -> Dataset:
    rng = random.Random(cfg.seed)
    org_id = rng.randrange(10_000, 99_999)
    users = _gen_users(random.Random(rng.random()), cfg, org_id)
    user_ids = [u["id"] for u in users]
    accounts = _gen_accounts(random.Random(rng.random()), cfg, user_ids)
    info: dict[str, Any] = {}
    conversations = _gen_conversations(random.Random(rng.random()), cfg, org_id, user_ids, info)
    token_rng = random.Random(rng.random())
    token_meta = {
        "authenticated_userid": f"orgId:{org_id}",
        "credential_id": str(token_rng.randrange(10_000, 99_999)),
        "token_type": "bearer",
        "expires_in": 0,
        "created_at": token_rng.randrange(_T_START, _T_END),
        "id": str(token_rng.randrange(1_000_000_000, 9_999_999_999)),
    }
    # Everything below draws from its own rng, seeded after all of the above: adding it left
    # the conversations, accounts, users and token of a seed as they were.
    extra = random.Random(rng.random())
    now_ms = cfg.now_ms if cfg.now_ms is not None else NOW_MS
    samples = cfg.include_samples
    _add_account_quirks(random.Random(extra.random()), accounts, samples)
    pb_rng = random.Random(extra.random())
    referenced = info.get("playbooks") or [pb_rng.randrange(60_000, 2_000_000) for _ in range(12)]
    playbooks, landing_pages = gen_playbooks(
        pb_rng,
        org_id,
        referenced,
        user_ids,
        load_sample("playbooks_list.json") if samples else None,
        now_ms,
    )
    teams = gen_teams(
        random.Random(extra.random()),
        org_id,
        users,
        load_sample("team.json") if samples else None,
        now_ms,
    )
    attributes = contact_attribute_defs(
        load_sample("contact_attributes.json")["data"]["properties"]
    )
    n_meetings = cfg.meetings if cfg.meetings is not None else cfg.conversations // 2
    meetings = gen_meetings(
        random.Random(extra.random()),
        n_meetings,
        conversations,
        users,
        org_id,
        cfg.seed,
        now_ms,
        load_sample("meeting.json") if samples else None,
    )
    plan_rng = random.Random(extra.random())
    message_plan = {cid: 51 + int(plan_rng.random() * 110) for cid in info.get("long", ())}
    message_plan.update((cid, 0) for cid in info.get("zero", ()))
    sample_messages = {}
    if samples and cfg.conversations > 0:  # the full sample conversation is included first
        sample_messages[SAMPLE_MESSAGES_CONVERSATION] = [
            load_sample("message.json"),
            load_sample("message_v13.json"),
        ]
    contact_names = {}
    if info.get("script_contact") is not None:
        contact_names[info["script_contact"]] = "<script>alert(1)</script>"
    return Dataset(
        org_id=org_id,
        conversations=conversations,
        accounts=accounts,
        users=users,
        token_meta=token_meta,
        now_ms=now_ms,
        playbooks=playbooks,
        landing_pages=landing_pages,
        teams=teams,
        contact_attributes=attributes,
        meetings=meetings,
        message_plan=message_plan,
        sample_messages=sample_messages,
        sample_contacts=sample_contacts() if samples else {},
        contact_names=contact_names,
    )


def _add_account_quirks(
    rng: random.Random, accounts: list[dict[str, Any]], include_samples: bool
) -> None:
    """Give every 4th generated account with custom properties an "employees" NUMBER property
    whose value alternates between a number and a string like "1,000" (custom property
    values are not typed reliably in Drift)."""
    seen = 0
    for acc in accounts[1 if include_samples else 0 :]:
        props = acc.get("customProperties")
        if props is None:
            continue
        seen += 1
        if seen % 4 != 1:
            continue
        if (seen // 4) % 2 == 0:
            value: Any = rng.randrange(1, 5000)
        else:
            value = f"{rng.randrange(1, 99)},{rng.randrange(0, 1000):03d}"
        props.append({"label": "Employees", "name": "employees", "value": value, "type": "NUMBER"})


def _gen_users(rng: random.Random, cfg: SimulatorConfig, org_id: int) -> list[dict[str, Any]]:
    n = cfg.users
    ids: list[int] = list(_SAMPLE_USER_IDS[:n]) if cfg.include_samples else []
    taken = set(ids)
    while len(ids) < n:
        uid = rng.randrange(100_000, 9_999_999)
        if uid not in taken:
            taken.add(uid)
            ids.append(uid)
    users = []
    for i, uid in enumerate(ids):
        is_bot = i == n - 1 or rng.random() < 0.08  # the last user is always a bot
        if is_bot:
            name = rng.choice(("Drift Bot 🤖", "Qualification Bot", "ボット", "Concierge <bot>"))
        elif i < len(_SPECIAL_NAMES) and rng.random() < 0.7:
            name = _SPECIAL_NAMES[i]
        else:
            name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        created = rng.randrange(_T_START, _T_END - 30 * _DAY)
        updated = created + rng.randrange(0, 400 * _DAY)
        u: dict[str, Any] = {"id": uid, "orgId": org_id, "name": name}
        # alias: present, explicit null, or absent (users 1 and 2 pin the null/absent cases)
        r = rng.random()
        if i == 1 or (i > 2 and r < 0.15):
            u["alias"] = None
        elif i == 2 or (i > 2 and r < 0.45):
            pass
        else:
            u["alias"] = rng.choice(_ALIASES)
        if not (is_bot and rng.random() < 0.5):
            u["email"] = (
                f"user{i}.{uid}@example-{org_id}.com"
                if rng.random() < 0.8
                else f"zoë.o'brien+{i}@例え.jp"
            )
        if rng.random() < 0.6:
            u["phone"] = rng.choice(
                ("+1 (555) 010-%04d", "+33 1 23 45 %04d", "+81-3-%04d-0000")
            ) % rng.randrange(10_000)
        elif rng.random() < 0.2:
            u["phone"] = None
        if rng.random() < 0.9:
            u["locale"] = rng.choice(_LOCALES)
        u["availability"] = rng.choice(_AVAILABILITY)
        u["role"] = "agent" if is_bot else rng.choice(_ROLES)
        if rng.random() < 0.9:
            u["timeZone"] = rng.choice(_TIMEZONES)
        if rng.random() < 0.75:
            u["avatarUrl"] = f"https://avatars.example.com/{org_id}/{uid}.png?s=128&name=" + (
                "bot" if is_bot else "user"
            )
        if rng.random() < 0.95:
            u["verified"] = rng.random() < 0.8
        u["bot"] = is_bot
        u["createdAt"] = created
        u["updatedAt"] = updated
        users.append(u)
    return users


def _custom_value(rng: random.Random, ptype: str, user_ids: list[int]) -> Any:
    if ptype == "NUMBER":
        return rng.randrange(0, 100_000) if rng.random() < 0.6 else round(rng.uniform(-1e6, 1e7), 2)
    if ptype == "ENUM":
        return rng.choice(_INDUSTRIES)
    if ptype == "STRING":
        return rng.choice(_NOTES)
    if ptype == "EMAIL":
        return f"billing{rng.randrange(1000)}@" + rng.choice(
            ("example.com", "exämple.de", "例え.jp")
        )
    if ptype == "TEAMMEMBER":
        return rng.choice(user_ids) if user_ids else rng.randrange(100_000, 9_999_999)
    if ptype == "DATE":
        d = rng.randrange(_T_START, _T_END) // _DAY
        y, m = 2019 + (d % 6), 1 + (d % 12)
        return f"{y:04d}-{m:02d}-{1 + d % 28:02d}"
    if ptype == "DATETIME":
        return rng.randrange(_T_START, _T_END)
    if ptype == "LATLON":
        return f"{rng.uniform(-90, 90):.4f},{rng.uniform(-180, 180):.4f}"
    if ptype == "LAT":
        return round(rng.uniform(-90, 90), 6)
    if ptype == "LON":
        return round(rng.uniform(-180, 180), 6)
    if ptype == "PHONE":
        return f"+1 (555) {rng.randrange(100, 999)}-{rng.randrange(0, 9999):04d}"
    if ptype == "URL":
        return rng.choice(
            ("https://www.example.com/", "https://exämple.de/über?q=1&r=2", "http://例え.jp/パス")
        )
    if ptype == "ENUMARRAY":
        return rng.sample(_PRODUCTS, rng.randrange(0, 4))
    raise AssertionError(ptype)


def _gen_accounts(
    rng: random.Random, cfg: SimulatorConfig, user_ids: list[int]
) -> list[dict[str, Any]]:
    n = cfg.accounts
    accounts: list[dict[str, Any]] = []
    if cfg.include_samples and n > 0:
        accounts.append(sample_account())
    # a few owners own most accounts, so owners are shared
    owners = user_ids[: max(1, min(len(user_ids), 6))] if user_ids else [21965]
    i = 0
    while len(accounts) < n:
        i += 1
        word = rng.choice(_COMPANY_WORDS)
        suffix = rng.choice(_COMPANY_SUFFIX)
        name = f"{word} {suffix}".strip()
        if rng.random() < 0.02:
            name = _HTML
        slug = "".join(ch for ch in word.lower() if ch.isascii() and ch.isalnum()) or "co"
        domain = f"{slug}-{i}.{rng.choice(_TLDS)}"  # unique by construction (i)
        created = rng.randrange(_T_START, _T_END - _DAY)
        updated = created if rng.random() < 0.1 else created + rng.randrange(0, 700 * _DAY)
        acc: dict[str, Any] = {"ownerId": rng.choice(owners), "name": name}
        if rng.random() >= 0.03:
            acc["domain"] = domain
        acc["accountId"] = f"{rng.randrange(100_000, 999_999)}_{domain}"
        if rng.random() >= 0.08:
            props = []
            for label, pname, ptype in rng.sample(_CUSTOM_PROPS, rng.randrange(0, 6)):
                value = None if rng.random() < 0.03 else _custom_value(rng, ptype, user_ids)
                props.append({"label": label, "name": pname, "value": value, "type": ptype})
            acc["customProperties"] = props
        acc["deleted"] = i % 20 == 7  # exactly every 20th generated account (5%)
        acc["createDateTime"] = created
        acc["updateDateTime"] = updated
        if rng.random() >= 0.1:
            acc["targeted"] = rng.random() < 0.3
        accounts.append(acc)
    return accounts


def _gen_conversations(
    rng: random.Random,
    cfg: SimulatorConfig,
    org_id: int,
    user_ids: list[int],
    info: dict[str, Any],
) -> list[dict[str, Any]]:
    """Conversations in list order. ``info`` receives what later generators need without
    drawing from this rng: the playbook ids used, the ids of conversations whose message
    count is pinned (``long``: > 50, ``zero``: none) and the contact to name
    ``<script>alert(1)</script>``."""
    n = cfg.conversations
    convs: list[dict[str, Any]] = []
    if cfg.include_samples:
        convs.extend(sample_conversations()[:n])
    n_gen = n - len(convs)
    if n_gen <= 0:
        sort_conversations(convs)
        return convs

    randrange = rng.randrange
    rand = rng.random  # the hot loop below only uses rand() (C) for speed
    inboxes = [randrange(10_000, 999_999) for _ in range(3)]
    playbooks = [randrange(60_000, 2_000_000) for _ in range(12)]
    info["playbooks"] = playbooks
    pending = list(_SAMPLE_CONTACTS) if cfg.include_samples else []
    sample_contact_ids = {cid for cid, _ in pending}
    long_ids: list[int] = []
    zero_ids: list[int] = []
    next_long = 2
    tag_colors = {name: f"{randrange(0, 1 << 24):06X}" for name in _TAG_NAMES}
    n_tags = len(_TAG_NAMES)
    n_users = len(user_ids)
    contacts: list[int] = []
    status_cycle = ("closed",) * 11 + ("open",) * 4 + ("pending",) * 2 + ("bulk_sent",) * 3
    n_cycle = len(status_cycle)
    next_id = 4_600_000_000 + randrange(0, 100_000_000)  # int64, well above 2**31 and 2**32
    span = _T_END - _T_START
    mean_gap = 3.0 * _DAY
    log = math.log
    generated: list[dict[str, Any]] = []
    for k in range(n_gen):
        next_id += 1 + int(rand() * 5_000)
        status = STATUSES[k] if k < 4 else status_cycle[int(rand() * n_cycle)]  # all present
        if contacts and rand() < 0.25:
            contact = contacts[int(rand() * len(contacts))]
        else:
            contact = 15_000_000_000 + int(rand() * 5_000_000_000)
            contacts.append(contact)
        r = rand()
        if generated and r < 0.03:
            # same updatedAt as an earlier conversation: exercises the id tie-break
            updated = generated[int(rand() * len(generated))]["updatedAt"]
            created = updated - int(rand() * 3_600_000)
        else:
            created = _T_START + int(rand() * span)
            updated = created if r < 0.12 else created + int(-mean_gap * log(1.0 - rand()))
        participants: list[int] = []
        if n_users and status != "bulk_sent":
            for _ in range(int(rand() * 4)):
                uid = user_ids[int(rand() * n_users)]
                if uid not in participants:
                    participants.append(uid)
        conv: dict[str, Any] = {
            "status": status,
            "participants": participants,
            "contactId": contact,
            "createdAt": created,
            "id": next_id,
        }
        r = rand()
        if r < 0.85:
            conv["relatedPlaybookId"] = playbooks[int(rand() * 12)]
        elif r < 0.88:
            conv["relatedPlaybookId"] = str(playbooks[int(rand() * 12)])  # seen as a string
        conv["inboxId"] = inboxes[int(rand() * 3)]
        conv_tags: list[dict[str, str]] = []
        if rand() >= 0.5:
            for _ in range(1 + int(rand() * 3)):
                name = _TAG_NAMES[int(rand() * n_tags)]
                if all(t["name"] != name for t in conv_tags):
                    conv_tags.append({"color": tag_colors[name], "name": name})
        conv["conversationTags"] = conv_tags
        conv["updatedAt"] = updated
        if rand() < 0.3:
            conv["orgId"] = org_id
        # (no rng draws below: the generated data stays what it was before these existed)
        if pending and (created >= pending[0][1] or n_gen - k <= len(pending)):
            conv["contactId"] = pending.pop(0)[0]
        if status != "bulk_sent":
            if k >= next_long and updated - created >= 60_000:
                long_ids.append(next_id)
                next_long = k + (30 if len(long_ids) < 3 else 60)
            elif k % 30 == 17:
                zero_ids.append(next_id)
        generated.append(conv)
    info["long"] = long_ids
    info["zero"] = zero_ids
    for conv in generated[min(2, len(generated) - 1) :]:
        if conv["contactId"] not in sample_contact_ids:
            info["script_contact"] = conv["contactId"]
            break
    convs.extend(generated)
    sort_conversations(convs)
    return convs
