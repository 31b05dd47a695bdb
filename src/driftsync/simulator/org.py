"""Small org-wide collections of the simulated Drift: playbooks, landing pages, teams and the
contact attribute definitions. All are generated up front (a few dozen records at most), in a
deterministic order, and served as pre-rendered bodies.

* ``GET /playbooks/list`` — bare array. The documented playbook (``samples/playbooks_list.json``)
  comes first, then generated ones: most ids the conversations' ``relatedPlaybookId`` use, the
  sample conversation's 63505, and a few nobody references. Two of the ids conversations use
  are *not* listed: Drift only lists enabled playbooks, so references to disabled or archived
  ones dangle (API.md §2.2).
* ``GET /playbooks/clp`` — bare array ``[{playbookId, playbookName, landingPageUrl}]`` for a
  few listed playbooks.
* ``GET /teams/org`` — ``{"data": [Team]}``; the sample team (``samples/team.json``) first.
  Optional fields are absent on some teams, as the team model says they may be.
* ``GET /contacts/attributes`` — the documented entries (``samples/contact_attributes.json``,
  always listed: generated contacts use ``age``, ``city``, ``country``) plus the custom
  attributes generated contacts carry.

Only ``BOOK_MORE_MEETINGS`` (playbook ``reportType``), ``NUMERIC``/``STRING`` (attribute
``type``) and the team enums are attested; the other report types and the ``BOOLEAN``/``DATE``
attribute types are the simulator's own guesses, there to make clients tolerate unknown values.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

_DAY = 86_400_000
_HTML = "<b>bold</b> & <script>alert(1)</script>"

#: playbook ids of the samples: the documented playbook and the one conversation 116119985
#: points to (``relatedPlaybookId: 63505``)
SAMPLE_PLAYBOOK_ID = 1122498147
SAMPLE_CONVERSATION_PLAYBOOK_ID = 63505

_PLAYBOOK_NAMES = (
    "Welcome bot 👋",
    "Pricing page — book a demo",
    "Réservez une démo",
    "リード獲得",
    "Churn save",
    _HTML,
    'The "Closer"',
    "Webinar follow-up",
    "Ebook landing page",
    "Support triage",
    "Enterprise routing",
    "Fallback",
    "Zoë's playbook",
    "营销活动",
)
_REPORT_TYPES = ("BOOK_MORE_MEETINGS", "CAPTURE_LEADS", "ANSWER_QUESTIONS", "CUSTOM")
_GOAL_MESSAGES = (
    "Thanks! A rep will reach out shortly.",
    "Meeting booked 🎉",
    "Merci ! À bientôt.",
    "ご予約ありがとうございます",
    "Lead captured: <email>",
    _HTML,
    "",
)
_TEAM_NAMES = ("Sales", "Support 🛟", "Équipe France", "日本チーム", "SDR & BDR", "Night shift")
_AVAILABILITY_MODES = ("ALWAYS_ONLINE", "ALWAYS_OFFLINE", "CUSTOM_HOURS")

#: custom contact attributes of the simulated org (type, displayName, name); generated
#: contacts use them (``lead_score`` holds numbers *and* strings, like real custom fields)
CUSTOM_CONTACT_ATTRIBUTES = (
    ("STRING", "Email", "email"),
    ("STRING", "First Name", "first_name"),
    ("NUMERIC", "Lead Score", "lead_score"),
    ("STRING", "Name", "name"),
    ("BOOLEAN", "Opted In", "opted_in"),
    ("STRING", "Phone", "phone"),
    ("STRING", "Plan Tier", "plan_tier"),
    ("STRING", "Région 🌍", "region"),
    ("DATE", "Signup Date", "signup_date"),
)


def new_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def gen_playbooks(
    rng: random.Random,
    org_id: int,
    referenced: list[int],
    user_ids: list[int],
    sample: list[dict[str, Any]] | None,
    now_ms: int,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(playbooks, landing pages). ``referenced``: playbook ids conversations point to, in
    draw order; all but the last two are listed."""
    playbooks: list[dict[str, Any]] = list(sample or [])
    taken = {p["id"] for p in playbooks}
    distinct = list(dict.fromkeys(referenced))
    listed = distinct[: max(0, len(distinct) - 2)]
    if sample is not None:
        listed.append(SAMPLE_CONVERSATION_PLAYBOOK_ID)
    fresh = 0
    while fresh < 3:
        pid = rng.randrange(2_000_000, 3_000_000)  # never referenced by a conversation
        if pid not in listed and pid not in distinct:
            listed.append(pid)
            fresh += 1
    authors = user_ids or [338419]
    generated = []
    for i, pid in enumerate(listed):
        if pid in taken:
            continue
        taken.add(pid)
        created = now_ms - rng.randrange(30 * _DAY, 1500 * _DAY)
        updated = created if rng.random() < 0.2 else rng.randrange(created, now_ms - _DAY)
        author = rng.choice(authors)
        goals = [
            {"id": new_uuid(rng), "message": rng.choice(_GOAL_MESSAGES)}
            for _ in range(rng.randrange(0, 4))
        ]
        pb: dict[str, Any] = {
            "goals": goals,
            "id": pid,
            "name": _PLAYBOOK_NAMES[i % len(_PLAYBOOK_NAMES)],
            "orgId": org_id,
            "meta": {} if rng.random() < 0.75 else {"folder": rng.choice(_TEAM_NAMES)},
            "createdAt": created,
            "updatedAt": updated,
            "createdAuthorId": author,
            "updatedAuthorId": author if rng.random() < 0.6 else rng.choice(authors),
            "interactionId": rng.randrange(100_000, 999_999),
            "reportType": rng.choice(_REPORT_TYPES),
        }
        generated.append(pb)
    playbooks.extend(generated)
    clps = []
    for pb in generated[:: max(1, len(generated) // 3)][:3]:
        slug = "".join(ch if ch.isascii() and ch.isalnum() else "-" for ch in pb["name"].lower())
        slug = "-".join(part for part in slug.split("-") if part) or f"page-{pb['id']}"
        clps.append(
            {
                "playbookId": pb["id"],
                "playbookName": pb["name"],
                "landingPageUrl": f"https://org-{org_id}.drift.click/{slug}",
            }
        )
    return playbooks, clps


def gen_teams(
    rng: random.Random,
    org_id: int,
    users: list[dict[str, Any]],
    sample: dict[str, Any] | None,
    now_ms: int,
) -> list[dict[str, Any]]:
    teams: list[dict[str, Any]] = [sample] if sample is not None else []
    user_ids = [u["id"] for u in users]
    if not user_ids:
        return teams
    n = min(len(_TEAM_NAMES), 1 + len(user_ids) // 5)
    taken = {t["id"] for t in teams}
    for i in range(n):
        tid = rng.randrange(1_000, 99_999)
        while tid in taken:
            tid = rng.randrange(1_000, 99_999)
        taken.add(tid)
        members = rng.sample(user_ids, rng.randrange(0, min(len(user_ids), 8) + 1))
        if i == 0 and not members:
            members = user_ids[:1]
        team: dict[str, Any] = {
            "id": tid,
            "orgId": org_id,
            "workspaceId": new_uuid(rng),
            "name": _TEAM_NAMES[(i + (sample is not None)) % len(_TEAM_NAMES)],
            "updatedAt": now_ms - rng.randrange(_DAY, 900 * _DAY),
            "members": members,
        }
        if members and rng.random() < 0.85:
            team["owner"] = members[0]
        team["status"] = "ARCHIVED" if i == n - 1 and n > 1 else "ENABLED"
        team["main"] = i == 0 and sample is None
        if rng.random() < 0.8:
            team["autoOffline"] = rng.random() < 0.5
        if i % 3 != 2:  # absent on every third team
            team["teamAvailabilityMode"] = rng.choice(_AVAILABILITY_MODES)
        if rng.random() < 0.7:
            team["responseTimerEnabled"] = rng.random() < 0.5
        teams.append(team)
    return teams


def contact_attribute_defs(documented: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = list(documented)
    seen = {p["name"] for p in out}
    for ptype, display, name in CUSTOM_CONTACT_ATTRIBUTES:
        if name not in seen:
            out.append({"type": ptype, "displayName": display, "name": name})
    return out
