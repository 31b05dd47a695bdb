"""Deterministic building blocks of the simulator's data mutations.

The public API is on :class:`~driftsync.simulator.server.DriftSimulator`
(``update_conversations``, ``add_conversations``, ``update_accounts``, ``remove_accounts``,
``update_users``, ``remove_users``); these helpers hold the rules:

* **Clock.** A mutation without an explicit time stamps its records with the simulator's own
  clock: the next whole minute strictly after every timestamp in the dataset and after the
  previous mutation. It never reads the wall clock, so a given seed and sequence of calls always
  produces the same data.
* **Samples.** ``fraction`` picks ``round(fraction * n)`` records (at least 1 when
  ``fraction > 0``) with ``random.Random`` seeded from the config seed, the operation and the
  number of mutations made before: the same calls in the same order pick the same records.
* **Copy on write.** Changed records are new dicts (same key order) in new lists; a request
  being served keeps a consistent snapshot.
"""

from __future__ import annotations

import random
import re
from typing import Any

MINUTE_MS = 60_000
#: Status after an update when the update changes it (every other record, by the call's rng).
NEXT_STATUS = {"open": "closed", "closed": "open", "pending": "open", "bulk_sent": "open"}

_REV = re.compile(r" \(rev \d+\)$")


def revised_name(name: Any, rev: int) -> str:
    """``name`` with a ``" (rev N)"`` suffix (replacing an earlier one)."""
    base = _REV.sub("", name) if isinstance(name, str) else ""
    return f"{base} (rev {rev})"


def sample_positions(rng: random.Random, n: int, fraction: float) -> list[int]:
    """Sorted positions of a deterministic sample of ``fraction`` of ``n`` records."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be between 0 and 1, got {fraction!r}")
    k = round(n * fraction)
    if fraction > 0 and n and k == 0:
        k = 1
    return sorted(rng.sample(range(n), k))


def next_minute(floor_ms: int) -> int:
    """The first whole minute strictly after ``floor_ms``."""
    return floor_ms - floor_ms % MINUTE_MS + MINUTE_MS


def new_conversation(
    rng: random.Random,
    conv_id: int,
    ts: int,
    org_id: int,
    user_ids: list[int],
    inboxes: list[int],
    playbooks: list[int],
) -> dict[str, Any]:
    """A just-created open conversation, in the key order of the generated ones."""
    participants: list[int] = []
    if user_ids:
        for _ in range(rng.randrange(0, 3)):
            uid = rng.choice(user_ids)
            if uid not in participants:
                participants.append(uid)
    conv: dict[str, Any] = {
        "status": "open",
        "participants": participants,
        "contactId": 15_000_000_000 + rng.randrange(0, 5_000_000_000),
        "createdAt": ts,
        "id": conv_id,
    }
    if playbooks and rng.random() < 0.85:
        conv["relatedPlaybookId"] = rng.choice(playbooks)
    conv["inboxId"] = rng.choice(inboxes) if inboxes else 100_001
    conv["conversationTags"] = []
    conv["updatedAt"] = ts
    if rng.random() < 0.3:
        conv["orgId"] = org_id
    return conv


def pools(conversations: list[dict[str, Any]]) -> tuple[list[int], list[int]]:
    """(inbox ids, int playbook ids) seen in the first conversations, in first-seen order."""
    inboxes: dict[int, None] = {}
    playbooks: dict[int, None] = {}
    for c in conversations[:500]:
        if isinstance(c.get("inboxId"), int):
            inboxes[c["inboxId"]] = None
        if isinstance(c.get("relatedPlaybookId"), int):
            playbooks[c["relatedPlaybookId"]] = None
    return list(inboxes), list(playbooks)
