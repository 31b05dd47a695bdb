"""Messages of the simulated conversations (``GET /conversations/{id}/messages``).

Messages are never stored for the whole dataset: the messages of a conversation are derived,
when asked for, from the conversation record and ``random.Random(seed_for(...))`` keyed by the
seed and the conversation id, so the same conversation always yields the same messages, on
any machine and in any request order. What is stored is small:

* ``Dataset.message_plan``: conversations whose message count is pinned — every dataset of
  100+ conversations has at least three with more than 50 messages (several pages) and some
  with none;
* ``Dataset.sample_messages``: the documented messages (``samples/message.json``,
  ``samples/message_v13.json``), real messages of conversation 116119985;
* per simulator snapshot, the messages appended by ``update_conversations`` (one per update,
  ``createdAt`` = the conversation's new ``updatedAt``) and the record each updated
  conversation had before its first update (its original messages stay what they were).

Rules: ``createdAt`` ascends within a conversation (equal stamps are ordered by id), the first
message is at the conversation's ``createdAt`` and none is after its ``updatedAt``. Message ids
are int64, unique across the dataset: ``conversation id * 100_000 + n`` (appended ones from
``n = 50_000``), below 2**53. Contact authors are the conversation's ``contactId``; user
authors are its participants (or, without participants, the org's bots, else any user), with
the user's ``bot`` flag. ``bulk_sent`` conversations only hold bot/user messages.
"""

from __future__ import annotations

import random
from typing import Any

PAGE_SIZE = 50  # Drift: "page sizes are always 50"
ID_FACTOR = 100_000
APPENDED_BASE = 50_000

_HTML = "<b>bold</b> & <script>alert(1)</script>"
SCRIPT_BODY = "<p>Is this safe? <script>alert(1)</script></p>"
_CHAT = (
    "<p>Hi &amp; welcome</p>",
    "<p>Can I get pricing for 50 seats?</p>",
    "Hello! 👋",
    "<p>Est-ce que vous parlez français ?</p>",
    "<p>日本語で大丈夫ですか？</p>",
    '<p>Sure, here&#39;s the link: <a href="https://example.com/docs?a=1&amp;b=2">docs</a></p>',
    "<p>Line one<br>Line two</p>",
    "<p>Is it &lt; $100 per month?</p>",
    "plain text, no markup",
    "<p></p>",
    "",
    '<p>He said "wow" &mdash; twice</p>',
    "<ul><li>SSO</li><li>API</li></ul>",
    _HTML,
    "<p>Zoë &amp; José say ¡hola! 🚀</p>",
    "<p>Tab\there, newline\nthere</p>",
    "<p>Thanks!</p>",
)
_NOTES = (
    "<p>Internal: follow up next week</p>",
    "<p>VIP &mdash; loop in the AE</p>",
    "Ask about renewal",
    "<p>客户很重要</p>",
)
_PROMPTS = (
    "<p>Suggested reply: would you like to book a meeting?</p>",
    "<p>Ask for their email address</p>",
    "<p>Répondre : « merci ! »</p>",
)
_FOLLOW_UPS = (
    "<p>Any news on this? (follow-up {n})</p>",
    "<p>Thanks &amp; talk soon — update {n}</p>",
    "Ping #{n} 🔔",
)
_BUTTONS = (
    ("Book a meeting", "book_meeting"),
    ("Just browsing", "browsing"),
    ("Talk to sales", "sales"),
    ("Oui 👍", "yes"),
    ("No thanks", "no"),
)
_BUTTON_TYPES = ("reply", "action")
_EDIT_TYPES = ("delete", "replace", "replace_body", "replace_buttons")
_USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
)
_FILES = (
    ("invoice.pdf", "application/pdf"),
    ("screenshot 2024-05-01 at 10.12.png", "image/png"),
    ("résumé.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("データ.csv", "text/csv"),
)


def seed_for(kind: int, seed: int, key: int) -> int:
    """Seed of the per-record rng: ``kind`` 0 messages, 1 contacts, 2 meetings."""
    return (seed * 1_000_003 + key) * 8 + kind


class People:
    """The org's users as message authors, frozen when the simulator starts."""

    __slots__ = ("bot_of", "bots", "everyone")

    def __init__(self, users: list[dict[str, Any]]):
        self.bot_of: dict[int, bool] = {u["id"]: bool(u.get("bot")) for u in users}
        self.bots: list[int] = [u["id"] for u in users if u.get("bot")]
        self.everyone: list[int] = [u["id"] for u in users]

    def pool(self, conv: dict[str, Any], bulk: bool) -> list[int]:
        parts = [p for p in conv.get("participants") or () if isinstance(p, int)]
        if bulk:
            return self.bots or parts or self.everyone
        return parts or self.bots or self.everyone

    def author(self, uid: int) -> dict[str, Any]:
        return {"type": "user", "id": uid, "bot": self.bot_of.get(uid, False)}


def _contact_author(contact: int) -> dict[str, Any]:
    return {"type": "contact", "id": contact, "bot": False}


# The hot loop below picks with ``seq[int(rand() * len(seq))]``: 3-4x cheaper than
# ``rng.choice`` / ``rng.randrange`` (pure Python in the stdlib).


def _buttons(rand: Any) -> list[dict[str, str]]:
    n = len(_BUTTONS)
    first = int(rand() * n)
    return [
        {
            "label": _BUTTONS[(first + k) % n][0],
            "value": _BUTTONS[(first + k) % n][1],
            "type": _BUTTON_TYPES[int(rand() * 2)],
        }
        for k in range(1 + int(rand() * 3))
    ]


def pick(rand: Any, seq: Any) -> Any:
    """``seq[i]`` for a uniform i, from the rng's ``random`` method."""
    return seq[int(rand() * len(seq))]


def rint(rand: Any, lo: int, hi: int) -> int:
    """A uniform int in [lo, hi), from the rng's ``random`` method."""
    return lo + int(rand() * (hi - lo))


def ip_address(rand: Any) -> str:
    return f"{rint(rand, 1, 224)}.{rint(rand, 0, 256)}.{rint(rand, 0, 256)}.{rint(rand, 1, 255)}"


def conversation_messages(
    conv: dict[str, Any],
    seed: int,
    org_id: int,
    people: People,
    forced: int | None = None,
    samples: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The original messages of ``conv`` (before any ``update_conversations``), oldest first."""
    cid = conv["id"]
    rng = random.Random(seed_for(0, seed, cid))
    rand = rng.random
    created = conv.get("createdAt") or 0
    updated = conv.get("updatedAt") or created
    span = max(0, updated - created)
    contact = conv.get("contactId")
    bulk = conv.get("status") == "bulk_sent"
    users = people.pool(conv, bulk)

    r = rand()
    if forced is not None:
        n = forced
    elif bulk:
        n = 1 + int(rand() * 3)
    elif r < 0.04:
        n = 0
    else:
        n = 1 + int(rand() * 20)
    if forced is None and span == 0:
        n = min(n, 1)
    if (bulk or contact is None) and not users:
        n = 0

    times: list[int] = []
    if n == 1:
        times = [created]
    elif n > 1:
        times = [created + int(rand() * span) for _ in range(n - 2)]
        times.append(updated if rand() < 0.7 else created + int(rand() * span))
        times.sort()
        times.insert(0, created)

    out: list[dict[str, Any]] = []
    for i, ts in enumerate(times):
        r = rand()
        if bulk or contact is None:
            mtype, author = "chat", people.author(users[int(rand() * len(users))])
        elif i == 0:
            mtype = "chat"
            if rand() < 0.75 or not users:
                author = _contact_author(contact)
            else:
                author = people.author(users[int(rand() * len(users))])
        elif r < 0.80 or not users:
            mtype = "chat"
            if rand() < 0.5 or not users:
                author = _contact_author(contact)
            else:
                author = people.author(users[int(rand() * len(users))])
        elif r < 0.87:
            mtype, author = "private_note", people.author(users[int(rand() * len(users))])
        elif r < 0.91:
            mtype, author = "private_prompt", people.author(users[int(rand() * len(users))])
        elif r < 0.95:
            mtype, author = "suggestion", people.author(users[int(rand() * len(users))])
        else:
            mtype, author = "edit", None
        edited: dict[str, Any] | None = None
        if mtype == "edit":
            chats = [m for m in out if m["type"] == "chat"]
            if chats:
                edited = chats[int(rand() * len(chats))]
                author = dict(edited["author"])
            else:
                mtype, author = "chat", _contact_author(contact)
        assert author is not None

        m: dict[str, Any] = {"id": cid * ID_FACTOR + i, "orgId": org_id}
        edit_type = _EDIT_TYPES[int(rand() * 4)] if edited is not None else None
        if forced is not None and forced > PAGE_SIZE and i == 1:
            m["body"] = SCRIPT_BODY
        elif mtype in ("chat", "edit"):
            if edit_type not in ("delete", "replace_buttons") and rand() >= 0.04:
                m["body"] = pick(rand, _CHAT)
        elif mtype == "private_note":
            m["body"] = pick(rand, _NOTES)
        else:
            m["body"] = pick(rand, _PROMPTS)
        m["author"] = author
        m["type"] = mtype
        m["conversationId"] = cid
        m["createdAt"] = ts
        is_contact = author["type"] == "contact"
        r = rand()
        if edit_type in ("replace", "replace_buttons") or (
            not is_contact and mtype == "chat" and r < (0.4 if author["bot"] else 0.05)
        ):
            m["buttons"] = _buttons(rand)
        elif r > 0.93:
            m["buttons"] = []
        if is_contact and rand() < 0.7:
            m["context"] = {"ip": ip_address(rand), "userAgent": pick(rand, _USER_AGENTS)}
        if edited is not None:
            m["editedMessageId"] = edited["id"]
            m["editType"] = edit_type
        r = rand()
        if r < 0.3:
            m["attributes"] = {}
        elif r < 0.4:
            m["attributes"] = {"developer_app_id": 3000 + int(rand() * 900)}
        if mtype == "chat" and rand() < (0.02 if is_contact else 0.01):
            name, mime = pick(rand, _FILES)
            doc = 100_000_000 + int(rand() * 899_999_999)
            m["attachments"] = [
                {
                    "id": doc,
                    "fileName": name,
                    "mimeType": mime,
                    "url": f"https://driftapi.com/attachments/{doc}/data",
                }
            ]
        out.append(m)
    if samples:
        out = sorted(out + samples, key=lambda m: (m["createdAt"], m["id"]))
    return out


def appended_message(
    conv: dict[str, Any], j: int, ts: int, seed: int, org_id: int, people: People
) -> dict[str, Any]:
    """The ``j``-th (0-based) message ``update_conversations`` adds to ``conv``, at ``ts``."""
    cid = conv["id"]
    rng = random.Random(f"driftsync-simulator:{seed}:append:{cid}:{j}")
    contact = conv.get("contactId")
    users = people.pool(conv, False)
    if contact is not None and (rng.random() < 0.5 or not users):
        author = _contact_author(contact)
    elif users:
        author = people.author(rng.choice(users))
    else:
        author = {"type": "user", "id": 0, "bot": True}
    return {
        "id": cid * ID_FACTOR + APPENDED_BASE + j,
        "orgId": org_id,
        "body": rng.choice(_FOLLOW_UPS).format(n=j + 1),
        "author": author,
        "type": "chat",
        "conversationId": cid,
        "createdAt": ts,
    }
