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

Everything else is generated. Records are plain dicts, exactly as the simulator serves them
(key order included).
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

LIST_FIELDS = ("status", "contactId", "createdAt", "id", "inboxId", "updatedAt")
STATUSES = ("open", "closed", "pending", "bulk_sent")
STATUS_IDS = {1: "open", 2: "closed", 3: "pending"}

# Fixed anchors (never the wall clock): generated activity lies in [2019-01-01, 2025-01-01).
_T_START = 1546300800000
_T_END = 1735689600000
_DAY = 86_400_000

_SAMPLE_USER_IDS = (243266, 252465, 21965, 228225)

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
    conversations = _gen_conversations(random.Random(rng.random()), cfg, org_id, user_ids)
    token_rng = random.Random(rng.random())
    token_meta = {
        "authenticated_userid": f"orgId:{org_id}",
        "credential_id": str(token_rng.randrange(10_000, 99_999)),
        "token_type": "bearer",
        "expires_in": 0,
        "created_at": token_rng.randrange(_T_START, _T_END),
        "id": str(token_rng.randrange(1_000_000_000, 9_999_999_999)),
    }
    return Dataset(
        org_id=org_id,
        conversations=conversations,
        accounts=accounts,
        users=users,
        token_meta=token_meta,
    )


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
    rng: random.Random, cfg: SimulatorConfig, org_id: int, user_ids: list[int]
) -> list[dict[str, Any]]:
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
        generated.append(conv)
    convs.extend(generated)
    sort_conversations(convs)
    return convs
