"""Booked meetings of the simulated org (``GET /users/meetings/org``).

Drift: "returns the booked meetings for an account, across all the drift agents, in a given
time range up to a max of 1000 meetings per request, and up to 30 days in the past"; the
meeting model has no id. The simulator keeps only a compact plan — four ``array('q')`` columns
sorted by ``slotStart`` (slot, ordinal, conversation id, scheduler contact id) — and renders a
meeting's other fields on demand from ``random.Random(seed_for(2, seed, ordinal))``, so
100,000 conversations' 50,000 meetings cost ~2 MB until they are served.

Layout: ``config.meetings`` (default ``conversations // 2``) meetings with ``slotStart`` spread
uniformly over [now - 40 days, now + 20 days), 15-minute aligned; the first two are always
older than 30 days (they exist but are never served). 90% belong to a conversation
(``conversationId``, ``schedulerId`` = its ``contactId``); the rest were booked from an e-mail
and name a contact that has no conversation. ``eventId`` is unique per meeting; ``slug`` is
the agent's booking page and repeats. The documented meeting (``samples/meeting.json``, slot
2026-12-21) is part of the data when samples are included.
"""

from __future__ import annotations

import random
from array import array
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from typing import Any

from .messages import pick, seed_for

_MINUTE = 60_000
_HOUR = 3_600_000
_DAY = 86_400_000
WINDOW_FLOOR_MS = 30 * _DAY  # "up to 30 days in the past"
MAX_PER_REQUEST = 1000

_TYPES = ("30 Minute Demo", "Discovery call", "Intro — 15 min", "デモ", "Réunion", 'The "big" one')
_NOTES = ("Wants pricing & onboarding", "<b>VIP</b> — be on time", "顧客メモ", "", "multi\nline")
_TIMEZONES = ("America/New_York", "Europe/Paris", "Asia/Tokyo", "America/Sao_Paulo", "UTC")


@dataclass
class MeetingPlan:
    """Meetings sorted by (slotStart, ordinal); ordinal -1 is the documented sample."""

    slot: array = field(default_factory=lambda: array("q"))
    ordinal: array = field(default_factory=lambda: array("q"))
    conversation: array = field(default_factory=lambda: array("q"))  # 0 = none
    scheduler: array = field(default_factory=lambda: array("q"))
    agents: tuple[int, ...] = ()
    slugs: tuple[str, ...] = ()
    bots: tuple[int, ...] = ()
    org_id: int = 0
    seed: int = 0
    now_ms: int = 0
    sample: dict[str, Any] | None = None

    def __len__(self) -> int:
        return len(self.slot)

    def window(self, lo: int, hi: int) -> tuple[int, int]:
        """Positions [i, j) of the meetings with lo <= slotStart <= hi."""
        return bisect_left(self.slot, lo), bisect_right(self.slot, hi)

    def render(self, pos: int) -> dict[str, Any]:
        o = self.ordinal[pos]
        if o < 0 and self.sample is not None:
            return dict(self.sample)
        rng = random.Random(seed_for(2, self.seed, o))
        rand = rng.random
        start = self.slot[pos]
        now = self.now_ms
        k = int(rand() * len(self.agents))
        agent = self.agents[k]
        status = "CANCELED" if rand() < 0.12 else "ACTIVE"
        conv = self.conversation[pos]
        source = "WIDGET" if conv and rand() < 0.8 else "EMAIL_DROP"
        lead = _HOUR + int(rand() * 21 * _DAY)
        scheduled = min(start - lead, now - _MINUTE - int(rand() * 6 * _HOUR))
        last = min(now, start)
        if status == "CANCELED" or rand() < 0.3:
            updated = scheduled + int(rand() * max(0, last - scheduled))
        else:
            updated = scheduled
        m: dict[str, Any] = {
            "agentId": agent,
            "orgId": self.org_id,
            "status": status,
            "meetingSource": source,
            "schedulerId": self.scheduler[pos],
            "eventId": f"{rng.getrandbits(64):016x}{o:x}",
            "slug": self.slugs[k],
            "slotStart": start,
            "slotEnd": start + pick(rand, (15, 30, 30, 45, 60)) * _MINUTE,
            "updatedAt": updated,
            "scheduledAt": scheduled,
            "meetingType": pick(rand, _TYPES),
        }
        if conv:
            m["conversationId"] = conv
        if rand() < 0.9:
            m["endUserTimeZone"] = pick(rand, _TIMEZONES)
        if rand() < 0.6:
            m["meetingNotes"] = pick(rand, _NOTES)
        m["bookedBy"] = pick(rand, self.bots) if self.bots and rand() < 0.3 else agent
        return m


def _slug(name: Any, uid: int) -> str:
    text = name if isinstance(name, str) else ""
    out = "".join(ch if ch.isascii() and ch.isalnum() else "-" for ch in text.lower())
    out = "-".join(p for p in out.split("-") if p)
    return out or f"user-{uid}"


def gen_meetings(
    rng: random.Random,
    n: int,
    conversations: list[dict[str, Any]],
    users: list[dict[str, Any]],
    org_id: int,
    seed: int,
    now_ms: int,
    sample: dict[str, Any] | None,
) -> MeetingPlan:
    humans = [u for u in users if not u.get("bot")] or users
    agents = tuple(u["id"] for u in humans) or (21965,)
    slugs = tuple(_slug(u.get("name"), u["id"]) for u in humans) or ("sales",)
    bots = tuple(u["id"] for u in users if u.get("bot"))
    rand = rng.random
    n_conv = len(conversations)
    quarter = 15 * _MINUTE
    old_base = now_ms - 40 * _DAY
    slots = [0] * n
    convs = [0] * n
    schedulers = [0] * n
    for o in range(n):
        if o < 2:
            slot = now_ms - 31 * _DAY - int(rand() * 9 * _DAY)  # past the 30-day floor
        else:
            slot = old_base + int(rand() * 60 * _DAY)
        slots[o] = slot - slot % quarter
        if n_conv and rand() < 0.9:
            conv = conversations[int(rand() * n_conv)]
            convs[o] = conv["id"]
            schedulers[o] = conv.get("contactId") or 0
        else:
            schedulers[o] = 20_000_000_000 + int(rand() * 1_000_000_000)
    order = sorted(range(n), key=slots.__getitem__)  # stable: ties stay in ordinal order
    plan_slot = array("q", [slots[o] for o in order])
    plan_ordinal = array("q", order)
    plan_conv = array("q", [convs[o] for o in order])
    plan_sched = array("q", [schedulers[o] for o in order])
    if sample is not None:
        at = bisect_left(plan_slot, sample["slotStart"])  # first among equal slots
        plan_slot.insert(at, sample["slotStart"])
        plan_ordinal.insert(at, -1)
        plan_conv.insert(at, sample.get("conversationId") or 0)
        plan_sched.insert(at, sample["schedulerId"])
    return MeetingPlan(
        slot=plan_slot,
        ordinal=plan_ordinal,
        conversation=plan_conv,
        scheduler=plan_sched,
        agents=agents,
        slugs=slugs,
        bots=bots,
        org_id=org_id,
        seed=seed,
        now_ms=now_ms,
        sample=sample,
    )
