"""Contacts of the simulated org (``GET /contacts/{id}``).

Drift has no "list contacts" endpoint: a contact exists for the simulator exactly when its id
is the ``contactId`` of a conversation or the ``schedulerId`` of a meeting (a few meetings
booked by e-mail come from contacts that have no conversation). Records are derived on demand
from ``random.Random(seed_for(1, seed, contact_id))`` and the contact's first appearance (the
earliest ``createdAt`` of its conversations, or its meeting), so the same id always yields the
same record; ``update_contacts`` overlays a revision (name suffix ``" (rev N)"`` and a new
``last_active``).

Attributes mimic the documented quirks: ``name`` or only ``first_name`` (or neither for an
anonymous visitor), an e-mail that is not unique, ``externalId`` as a number, a string, null
or absent, sometimes together with ``external_id``; ``tags`` (almost always ``[]``, rarely the
older ``[{name, color}]`` form), ``socialProfiles``, ``events``; ``start_date`` /
``last_active`` / ``last_contacted`` in ms; ``ip`` as a comma-joined string;
``_END_USER_VERSION`` next to ``_end_user_version``; ``last_context_location`` as a
JSON-encoded string; custom attributes of several types, ``lead_score`` holding numbers in
some contacts and strings in others. The two documented contacts (``samples/contact_get.json``,
``samples/contact_model.json``) are served verbatim, and one generated contact is literally
named ``<script>alert(1)</script>``.
"""

from __future__ import annotations

import json
import random
from typing import Any

from .messages import ip_address, pick, rint, seed_for

_DAY = 86_400_000
_FIRST = ("José", "Zoë", "Ana", "Björn", "Chloé", "Łukasz", "Mary", "Tom", "王", "佐藤", "Иван")
_LAST = ("Müller", "García", "O'Brien", "小明", "Petrov", "Smith", "Núñez", "D'Angelo", "Ng")
_DOMAINS = ("example.com", "exämple.de", "例え.jp", "mail.example.org", "EXAMPLE.NET")
_CITIES = (("Paris", "France"), ("東京", "Japan"), ("São Paulo", "Brazil"), ("Zürich", "CH"))
_PAGES = (
    ("https://www.example.com/pricing?utm_source=ads&utm_medium=cpc", "Pricing — Example"),
    ("https://www.example.com/", "Example | Home"),
    ("https://www.example.com/blog/l'été", "L'été 🌞"),
)
_TAGS = (("vip", "0960C5"), ("营销", "7695A5"), ("🔥 hot lead", "FF0000"))
_PLANS = ("free", "pro", "enterprise", "Entreprise", "")


def contact_record(
    contact_id: int, first_seen: int, seed: int, now_ms: int, name: str | None = None
) -> dict[str, Any]:
    """The ``data`` object of GET /contacts/{id} for a generated contact."""
    rng = random.Random(seed_for(1, seed, contact_id))
    rand = rng.random
    created = max(0, first_seen - int(rand() * 3 * _DAY))
    horizon = max(created, now_ms)
    last_active = created + int(rand() * (horizon - created) * 0.5)
    anonymous = name is None and rand() < 0.12
    first, last = pick(rand, _FIRST), pick(rand, _LAST)
    a: dict[str, Any] = {}
    if rand() < 0.4:
        a["original_ip"] = ",".join(ip_address(rand) for _ in range(rint(rand, 1, 3)))
    if rand() < 0.3:
        version = rint(rand, 1, 120)
        a["_END_USER_VERSION"] = version
        a["_end_user_version"] = version
        a["_calculated_version"] = version
    if rand() < 0.3:
        url, title = pick(rand, _PAGES)
        a["recent_entrance_page_url"] = url
        a["recent_entrance_page_title"] = title
    a["ip"] = ",".join(ip_address(rand) for _ in range(rint(rand, 1, 3)))
    r = rand()
    if r < 0.15:
        a["externalId"] = rint(rand, 1_000_000, 99_999_999)
    elif r < 0.30:
        a["externalId"] = f"{pick(rand, 'abcxyz')}{rint(rand, 10, 99)}-{rint(rand, 1000, 9999)}"
    elif r < 0.38:
        a["externalId"] = None
    if a.get("externalId") is not None and rand() < 0.4:
        a["external_id"] = str(a["externalId"])
    a["tags"] = [] if rand() >= 0.03 else [{"name": n, "color": c} for n, c in _TAGS[:2]]
    a["socialProfiles"] = (
        {}
        if rand() >= 0.08
        else {"twitter": f"@{first.lower()}", "linkedin": "https://www.linkedin.com/in/x"}
    )
    a["last_active"] = last_active
    if rand() < 0.3:
        a["last_contacted"] = created + int(rand() * (last_active - created))
    if name is not None:
        a["name"] = name
    elif not anonymous:
        if rand() < 0.75:
            a["name"] = f"{first} {last}"
        else:
            a["first_name"] = first
    if not anonymous and rand() < 0.9:
        if rand() < 0.03:
            a["email"] = "shared.inbox@example.com"  # e-mails are not unique in Drift
        else:
            local = "".join(ch for ch in (first + last).lower() if ch.isalnum()) or "contact"
            a["email"] = f"{local}.{contact_id % 100_000}@{pick(rand, _DOMAINS)}"
    if rand() < 0.25:
        a["phone"] = f"+1 (555) {rint(rand, 100, 999)}-{rint(rand, 0, 9999):04d}"
    a["events"] = {}
    a["start_date"] = created
    if rand() < 0.1:
        city, country = pick(rand, _CITIES)
        a["last_context_location"] = json.dumps(
            {"city": city, "country": country}, ensure_ascii=False
        )
    # custom attributes (see org.CUSTOM_CONTACT_ATTRIBUTES and the documented ones)
    if rand() < 0.3:
        a["age"] = rint(rand, 18, 80) if rand() < 0.95 else str(rint(rand, 18, 80))
    if rand() < 0.3:
        city, country = pick(rand, _CITIES)
        a["city"] = city
        a["country"] = country
    r = rand()
    if r < 0.3:
        a["lead_score"] = rint(rand, 0, 100)
    elif r < 0.4:
        a["lead_score"] = round(rand() * 100, 2)
    elif r < 0.5:
        a["lead_score"] = pick(rand, ("high", "87", "n/a"))
    if rand() < 0.3:
        a["opted_in"] = rand() < 0.5
    if rand() < 0.2:
        a["plan_tier"] = pick(rand, _PLANS)
    if rand() < 0.1:
        a["region"] = pick(rand, ("EMEA", "APAC", "Amériques"))
    if rand() < 0.2:
        a["signup_date"] = created + int(rand() * _DAY)
    if rand() < 0.05:
        a["bio"] = "<p>Loves <b>chat</b> &amp; 🍕</p>"
    return {"id": contact_id, "createdAt": created, "attributes": a}


def revise(record: dict[str, Any], rev: int, ts: int, revised_name: Any) -> dict[str, Any]:
    """A copy of a contact ``data`` object after ``update_contacts`` (revision ``rev``)."""
    attrs = dict(record.get("attributes") or {})
    key = "first_name" if "first_name" in attrs and "name" not in attrs else "name"
    attrs[key] = revised_name(attrs.get(key), rev)
    attrs["last_active"] = ts
    out = dict(record)
    out["attributes"] = attrs
    return out
