"""Tests of the offline Drift API simulator, over real HTTP on loopback."""

from __future__ import annotations

import gc
import json
import os
import re
import signal
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

import driftsync.simulator as simulator_pkg
from driftsync.simulator import DriftSimulator, SimulatorConfig, generate_dataset

TOKEN = "sim-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ERR_401 = {
    "error": {
        "type": "authentication_error",
        "message": "The access token is invalid or has expired",
    }
}
ERR_403 = {"error": {"type": "authentication_error", "message": "Missing proper authorization"}}
ERR_404 = {"error": {"type": "not_found", "message": "The requested resource was not found"}}
ERR_429 = {
    "error": {
        "type": "rate_limit",
        "message": "You have maxed your number of API calls for the provided time window",
    }
}
LIST_KEYS = ["status", "contactId", "createdAt", "id", "inboxId", "updatedAt"]
SAMPLE_IDS = {116119985, 3782727146, 1230200520, 1230183727, 1239406310}


def sample(name: str):
    return json.loads(
        resources.files("driftsync.simulator").joinpath("samples", name).read_text("utf-8")
    )


def cfg(**kw) -> SimulatorConfig:
    base = dict(seed=7, accounts=120, conversations=950, users=12, token=TOKEN)
    base.update(kw)
    return SimulatorConfig(**base)


@pytest.fixture(scope="module")
def sim():
    with DriftSimulator(cfg(pagination="links")) as s:
        yield s


@pytest.fixture(scope="module")
def cursor_sim():
    with DriftSimulator(cfg(pagination="cursor")) as s:
        yield s


@pytest.fixture
def small():
    """A fresh small simulator per test, for fault flags."""
    with DriftSimulator(cfg(accounts=30, conversations=60, users=5)) as s:
        yield s


@pytest.fixture
def client(sim):
    with httpx.Client(base_url=sim.url, headers=AUTH, timeout=5) as c:
        yield c


def client_for(s: DriftSimulator, **kw) -> httpx.Client:
    return httpx.Client(base_url=s.url, headers=AUTH, timeout=5, **kw)


def expected_order(convs):
    return [c["id"] for c in sorted(convs, key=lambda c: (c["updatedAt"], c["id"]), reverse=True)]


def walk_links(c: httpx.Client, params=None, max_pages=10_000):
    pages = []
    r = c.get("/conversations/list", params=params or {})
    while True:
        assert r.status_code == 200, r.text
        body = r.json()
        pages.append(body)
        nxt = body["links"].get("next")
        if nxt is None or len(pages) >= max_pages:
            return pages
        r = c.get(nxt)


def walk_cursor(c: httpx.Client, params=None, max_pages=10_000):
    pages = []
    params = dict(params or {})
    while True:
        r = c.get("/conversations/list", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        pages.append(body)
        if "pagination" not in body or len(pages) >= max_pages:
            return pages
        assert body["pagination"]["more"] is True
        params["next"] = body["pagination"]["next"]


# --- envelopes ----------------------------------------------------------------------------------


def test_list_links_envelope(sim, client):
    r = client.get("/conversations/list")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"data", "links"}
    assert len(body["data"]) == 25  # default limit
    for item in body["data"]:
        assert list(item) == LIST_KEYS
    assert body["links"]["self"] == f"{sim.url}/conversations/list"
    nxt = urlsplit(body["links"]["next"])
    assert f"{nxt.scheme}://{nxt.netloc}" == sim.url and nxt.path == "/conversations/list"
    q = parse_qs(nxt.query)
    assert q["limit"] == ["25"]
    token = q["page_token"][0]
    assert not token.isdigit() and re.fullmatch(r"[A-Za-z0-9_-]+", token)


def test_list_cursor_envelope(cursor_sim):
    with client_for(cursor_sim) as c:
        body = c.get("/conversations/list", params={"limit": 10}).json()
    assert set(body) == {"data", "pagination"}
    assert len(body["data"]) == 10
    assert body["pagination"]["more"] is True
    assert isinstance(body["pagination"]["next"], str)
    assert all(list(item) == LIST_KEYS for item in body["data"])


def test_conversation_detail(sim, client):
    conv = next(c for c in sim.dataset.conversations if c["id"] not in SAMPLE_IDS)
    r = client.get(f"/conversations/{conv['id']}")
    assert r.status_code == 200
    assert r.json() == {"data": conv}
    assert list(r.json()["data"])[:5] == ["status", "participants", "contactId", "createdAt", "id"]
    assert client.get("/conversations/999").json() == ERR_404
    assert client.get("/conversations/999").status_code == 404
    assert client.get("/conversations/abc").status_code == 404


def test_accounts_walk(sim, client):
    seen = []
    r = client.get("/accounts", params={"index": 0, "size": 50})
    while True:
        assert r.status_code == 200
        data = r.json()["data"]
        assert list(data)[:2] == ["accounts", "total"]
        assert data["total"] == 120
        seen.extend(data["accounts"])
        if "next" not in data:
            break
        assert data["next"].startswith("/accounts?")
        r = client.get(data["next"])
    assert seen == sim.dataset.accounts
    assert any(a["deleted"] is True for a in seen)
    # default size 10
    assert len(client.get("/accounts").json()["data"]["accounts"]) == 10
    # past the end
    data = client.get("/accounts", params={"index": 500}).json()["data"]
    assert data == {"accounts": [], "total": 120}


def test_users_list(sim, client):
    r = client.get("/users/list")
    assert r.status_code == 200
    assert r.json() == {"data": sim.dataset.users}
    assert len(sim.dataset.users) == 12


def test_token_info(sim):
    with httpx.Client(base_url=sim.url, timeout=5) as c:
        r = c.post("/app/token_info", json={"access_token": TOKEN})
        assert r.status_code == 200
        info = r.json()
        assert list(info) == list(sample("token_info.json"))  # same keys, same order
        assert info["access_token"] == TOKEN
        assert re.fullmatch(r"orgId:\d+", info["authenticated_userid"])
        assert info["token_type"] == "bearer" and info["expires_in"] == 0
        assert isinstance(info["credential_id"], str) and isinstance(info["id"], str)
        assert info["scope"].split() == [
            "conversation_read",
            "user_read",
            "account_read",
            "contact_read",
            "all_contact_read",
            "playbook_read",
        ]
        bad = c.post("/app/token_info", json={"access_token": "nope"})
        assert bad.status_code == 401 and bad.json() == ERR_401
        # Airbyte's old health check posts camelCase: Drift answers with a validation error
        v = c.post("/app/token_info", json={"accessToken": TOKEN})
        assert v.status_code == 400 and v.json()["error"]["type"] == "validation_error"
        # a wrong Authorization header is rejected even with a good body
        r = c.post(
            "/app/token_info", json={"access_token": TOKEN}, headers={"Authorization": "Bearer x"}
        )
        assert r.status_code == 401


# --- pagination walks -------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [100, 37])
def test_links_walk_complete_and_ordered(sim, client, limit):
    pages = walk_links(client, {"limit": limit})
    ids = [item["id"] for p in pages for item in p["data"]]
    assert ids == expected_order(sim.dataset.conversations)
    assert len(set(ids)) == len(ids) == 950
    assert all(len(p["data"]) == limit for p in pages[:-1])
    assert "next" not in pages[-1]["links"] and "self" in pages[-1]["links"]
    for p in pages[1:]:
        assert f"limit={limit}" in p["links"]["self"]
    items = [item for p in pages for item in p["data"]]
    keys = [(i["updatedAt"], i["id"]) for i in items]
    assert keys == sorted(keys, reverse=True)


def test_links_walk_with_status_filter(sim, client):
    pages = walk_links(client, [("statusId", 1), ("statusId", 3), ("limit", 50)])
    ids = [item["id"] for p in pages for item in p["data"]]
    want = [c for c in sim.dataset.conversations if c["status"] in ("open", "pending")]
    assert ids == expected_order(want) and want
    # the filter travels inside the opaque token: later pages stay filtered
    assert {i["status"] for p in pages for i in p["data"]} == {"open", "pending"}
    assert len(pages) > 1


def test_cursor_walk_complete_and_ordered(cursor_sim):
    with client_for(cursor_sim) as c:
        pages = walk_cursor(c, {"limit": 50})
        closed = walk_cursor(c, {"limit": 50, "statusId": 2})
    ids = [item["id"] for p in pages for item in p["data"]]
    assert ids == expected_order(cursor_sim.dataset.conversations)
    assert len(set(ids)) == 950
    closed_ids = [item["id"] for p in closed for item in p["data"]]
    assert closed_ids == expected_order(
        [c for c in cursor_sim.dataset.conversations if c["status"] == "closed"]
    )


def test_unfiltered_list_includes_bulk_sent(sim, client):
    statuses = {i["status"] for p in walk_links(client, {"limit": 100}) for i in p["data"]}
    assert statuses == {"open", "closed", "pending", "bulk_sent"}


def test_limit_and_size_clamping(sim, client, cursor_sim):
    assert len(client.get("/conversations/list", params={"limit": 500}).json()["data"]) == 100
    nxt = client.get("/conversations/list", params={"limit": 500}).json()["links"]["next"]
    assert "limit=100" in nxt
    with client_for(cursor_sim) as c:
        assert len(c.get("/conversations/list", params={"limit": 500}).json()["data"]) == 50
    data = client.get("/accounts", params={"size": 1000}).json()["data"]
    assert len(data["accounts"]) == 100
    assert data["next"] == "/accounts?index=100&size=100"


def test_accounts_max_size_configurable():
    with (
        DriftSimulator(cfg(accounts=200, conversations=0, accounts_max_size=65)) as s,
        client_for(s) as c,
    ):
        data = c.get("/accounts", params={"size": 100}).json()["data"]
        assert len(data["accounts"]) == 65 and data["next"] == "/accounts?index=65&size=65"


def test_invalid_page_token(sim, client):
    r = client.get("/conversations/list", params={"page_token": "garbage!!"})
    assert r.status_code == 400
    assert r.json() == {"error": {"type": "validation_error", "message": "Invalid page_token"}}
    token = parse_qs(urlsplit(client.get("/conversations/list").json()["links"]["next"]).query)[
        "page_token"
    ][0]
    tampered = token[:-3] + ("AAA" if token[-3:] != "AAA" else "BBB")
    assert client.get("/conversations/list", params={"page_token": tampered}).status_code == 400
    assert (
        client.get("/conversations/list", params={"page_token": "MTAw"}).status_code == 400
    )  # b64("100")


def test_empty_dataset():
    with DriftSimulator(cfg(conversations=0, accounts=0, users=0)) as s, client_for(s) as c:
        body = c.get("/conversations/list").json()
        assert body == {"data": [], "links": {"self": f"{s.url}/conversations/list"}}
        assert c.get("/accounts").json() == {"data": {"accounts": [], "total": 0}}
        assert c.get("/users/list").json() == {"data": []}
    with DriftSimulator(cfg(conversations=0, pagination="cursor")) as s, client_for(s) as c:
        assert c.get("/conversations/list").json() == {"data": []}


# --- auth and scopes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/conversations/list", "/conversations/116119985", "/accounts", "/users/list", "/nope"]
)
def test_401_without_or_with_wrong_token(sim, path):
    with httpx.Client(base_url=sim.url, timeout=5) as c:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            r = c.get(path, headers=headers)
            assert r.status_code == 401 and r.json() == ERR_401


def test_unknown_path_404(client):
    r = client.get("/conversations/1/messages")
    assert r.status_code == 404 and r.json() == ERR_404
    assert client.post("/conversations/list").status_code == 404


def test_403_missing_scope(small):
    small.config.missing_scopes = {"user_read", "conversation_read"}
    with client_for(small) as c:
        for path in ("/users/list", "/conversations/list", "/conversations/116119985"):
            r = c.get(path)
            assert r.status_code == 403 and r.json() == ERR_403
        assert c.get("/accounts").status_code == 200
        info = c.post("/app/token_info", json={"access_token": TOKEN}).json()
        assert "user_read" not in info["scope"].split() and "account_read" in info["scope"].split()


# --- faults -----------------------------------------------------------------------------------------


def test_fault_429(small):
    small.config.fault_429_every = 3
    with client_for(small) as c:
        codes = [c.get("/users/list").status_code for _ in range(6)]
        assert codes == [200, 200, 429, 200, 200, 429]
        r = c.get("/accounts")
        r = c.get("/accounts")
        r = c.get("/accounts")
        assert r.status_code == 429 and r.json() == ERR_429
        assert "retry-after" not in r.headers
        small.config.retry_after = 0.05
        small.reset_counts()
        c.get("/accounts"), c.get("/accounts")
        r = c.get("/accounts")
        assert r.status_code == 429 and r.headers["retry-after"] == "0.05"
        small.config.retry_after = 2
        small.reset_counts()
        assert [c.get("/accounts").headers.get("retry-after") for _ in range(3)] == [
            None,
            None,
            "2",
        ]


@pytest.mark.parametrize("status", [502, 503, 504])
def test_fault_5xx_html(small, status):
    small.config.fault_5xx_every = 2
    small.config.fault_5xx_status = status
    with client_for(small) as c:
        assert c.get("/users/list").status_code == 200
        r = c.get("/users/list")
        assert r.status_code == status
        assert r.headers["content-type"].startswith("text/html")
        with pytest.raises(ValueError):
            json.loads(r.text)
        assert c.get("/users/list").status_code == 200  # connection still usable


def test_fault_500_json(small):
    small.config.fault_5xx_every = 1
    small.config.fault_5xx_status = 500
    with client_for(small) as c:
        r = c.get("/conversations/list")
        assert r.status_code == 500
        assert r.json() == {
            "error": {"type": "internal_error", "message": "Something went wrong in our system"}
        }


def test_drop_connection(small):
    small.config.drop_connection_every = 2
    with client_for(small) as c:
        assert c.get("/users/list").status_code == 200
        with pytest.raises(httpx.TransportError):
            c.get("/users/list")
        assert c.get("/users/list").status_code == 200
    assert small.request_counts()["GET /users/list"] == 3


def test_slow_ms(small):
    with client_for(small) as c:
        c.get("/users/list")
        small.config.slow_ms = 150
        t = time.perf_counter()
        assert c.get("/users/list").status_code == 200
        assert time.perf_counter() - t >= 0.14


def test_revoke_after(small):
    small.config.revoke_after = 3
    with client_for(small) as c:
        assert c.get("/conversations/list").status_code == 200
        assert c.get("/conversations/999").status_code == 404  # not a success
        assert c.get("/accounts").status_code == 200
        assert c.post("/app/token_info", json={"access_token": TOKEN}).status_code == 200
        for _ in range(2):
            r = c.get("/users/list")
            assert r.status_code == 401 and r.json() == ERR_401
        assert c.post("/app/token_info", json={"access_token": TOKEN}).status_code == 401


def test_faulted_requests_do_not_count_as_success(small):
    small.config.revoke_after = 2
    small.config.fault_429_every = 2
    with client_for(small) as c:
        codes = [c.get("/users/list").status_code for _ in range(5)]
    assert codes == [200, 429, 200, 429, 401]


def test_foreign_next_host(small):
    small.config.foreign_next_host = "evil.example.com"
    with client_for(small) as c:
        body = c.get("/conversations/list", params={"limit": 10}).json()
    assert urlsplit(body["links"]["next"]).netloc == "evil.example.com"
    assert urlsplit(body["links"]["self"]).netloc == urlsplit(small.url).netloc


def test_repeat_cursor_after_links(small):
    small.config.repeat_cursor_after = 2
    with client_for(small) as c:
        pages = walk_links(c, {"limit": 10}, max_pages=6)
    nexts = [p["links"]["next"] for p in pages]
    assert nexts[0] != nexts[1]
    assert nexts[2] == nexts[1] == nexts[3] == nexts[5]  # the server loops
    assert pages[2]["data"] == pages[3]["data"]


def test_repeat_cursor_after_cursor_mode():
    with (
        DriftSimulator(cfg(conversations=60, pagination="cursor", repeat_cursor_after=2)) as s,
        client_for(s) as c,
    ):
        pages = walk_cursor(c, {"limit": 10}, max_pages=5)
    nexts = [p["pagination"]["next"] for p in pages]
    assert nexts[0] != nexts[1]
    assert nexts[1] == nexts[2] == nexts[3] == nexts[4]  # page 3 hands out page 2's cursor again
    assert pages[2]["data"] == pages[3]["data"]


def test_fault_counting_excludes_admin(small):
    small.config.fault_429_every = 2
    with client_for(small) as c:
        assert c.get("/users/list").status_code == 200
        for _ in range(3):
            assert c.get("/_simulator/stats").status_code == 200
        assert c.get("/users/list").status_code == 429


# --- samples, data, determinism -------------------------------------------------------------------------


def test_samples_served_verbatim(sim, client):
    r = client.get("/conversations/116119985")
    assert r.json() == sample("conversation_get.json")
    items = {i["id"]: i for p in walk_links(client, {"limit": 100}) for i in p["data"]}
    full = sample("conversation_get.json")["data"]
    assert items[116119985] == {k: full[k] for k in LIST_KEYS}
    for rec in (
        sample("conversations_list_v1.json")["data"] + sample("conversations_list_v2.json")["data"]
    ):
        assert items[rec["id"]] == rec
        assert list(items[rec["id"]]) == list(rec)
        assert client.get(f"/conversations/{rec['id']}").json() == {"data": rec}  # nothing invented
    accounts = client.get("/accounts", params={"size": 100}).json()["data"]["accounts"]
    assert accounts[0] == sample("account.json")["data"]


def test_sample_files_are_valid_and_documented():
    folder = resources.files("driftsync.simulator").joinpath("samples")
    names = {
        "conversations_list_v1.json",
        "conversations_list_v2.json",
        "conversation_get.json",
        "account.json",
        "token_info.json",
        "error_envelope.json",
        "error_401.json",
    }
    sources = folder.joinpath("SOURCES.md").read_text("utf-8")
    for name in names:
        json.loads(folder.joinpath(name).read_text("utf-8"))
        assert f"`{name}`" in sources
    assert sample("error_401.json") == ERR_401
    assert sample("error_envelope.json")["error"]["message"] == "Oh no!"
    v1 = sample("conversations_list_v1.json")
    assert "errors" not in v1 and v1["pagination"] == {"more": True, "next": "123494893"}
    assert len(v1["data"]) == 3 and len(sample("conversations_list_v2.json")["data"]) == 1


def test_determinism():
    a = generate_dataset(cfg())
    b = generate_dataset(cfg())
    assert a == b
    c = generate_dataset(cfg(seed=8))
    assert c.conversations != a.conversations
    assert len(a.conversations) == 950 and len(a.accounts) == 120 and len(a.users) == 12


def test_sizes_count_samples_and_no_samples_option():
    d = generate_dataset(cfg(conversations=3, accounts=1, users=2))
    assert [c["id"] for c in d.conversations] == [3782727146, 116119985, 1230200520]
    assert d.accounts == [sample("account.json")["data"]]
    d = generate_dataset(cfg(include_samples=False, conversations=50))
    assert not SAMPLE_IDS & {c["id"] for c in d.conversations}
    assert len(d.conversations) == 50


def test_generated_data_shapes(sim):
    ds = sim.dataset
    gen = [c for c in ds.conversations if c["id"] not in SAMPLE_IDS]
    user_ids = {u["id"] for u in ds.users}
    # the documented contacts (ids < 2**31) are contacts of two generated conversations
    sample_contacts = {1234567890, 349999553}
    assert all(c["id"] > 2**31 for c in gen)
    assert all(c["contactId"] > 2**31 or c["contactId"] in sample_contacts for c in gen)
    assert sample_contacts <= {c["contactId"] for c in gen}
    assert all(c["createdAt"] <= c["updatedAt"] for c in ds.conversations)
    assert {c["status"] for c in gen} == {"open", "closed", "pending", "bulk_sent"}
    assert all(set(c["participants"]) <= user_ids for c in gen)
    pb = [c.get("relatedPlaybookId", "absent") for c in gen]
    assert "absent" in pb and any(isinstance(p, int) for p in pb)
    assert any(isinstance(p, str) and p != "absent" and p.isdigit() for p in pb)
    assert any("orgId" in c for c in gen) and any("orgId" not in c for c in gen)
    tags = [t for c in gen for t in c["conversationTags"]]
    assert tags and all(re.fullmatch(r"[0-9A-Fa-f]{6}", t["color"]) for t in tags)
    # ids unique
    assert len({c["id"] for c in ds.conversations}) == len(ds.conversations)
    # accounts
    accs = ds.accounts
    domains = [a["domain"] for a in accs if "domain" in a]
    assert len(domains) == len(set(domains)) and len(domains) < len(accs)
    assert len({a["accountId"] for a in accs}) == len(accs)
    owners = [a["ownerId"] for a in accs]
    assert len(set(owners)) < len(owners)
    types = {p["type"] for a in accs for p in a.get("customProperties", [])}
    assert types == {
        "STRING",
        "EMAIL",
        "NUMBER",
        "TEAMMEMBER",
        "ENUM",
        "DATE",
        "DATETIME",
        "LATLON",
        "LAT",
        "LON",
        "PHONE",
        "URL",
        "ENUMARRAY",
    }
    assert any(isinstance(p["value"], list) for a in accs for p in a.get("customProperties", []))
    assert any("customProperties" not in a for a in accs)
    assert 0 < sum(a["deleted"] for a in accs) < len(accs) * 0.1
    assert all(a["createDateTime"] <= a["updateDateTime"] for a in accs)
    # users
    users = ds.users
    assert any(u["bot"] for u in users)
    assert any("alias" in u and u["alias"] is None for u in users)
    assert any("alias" not in u for u in users)
    assert all(u["availability"] in ("AVAILABLE", "OFFLINE", "ON_CALL") for u in users)
    assert all(u["role"] in ("member", "admin", "agent") for u in users)
    # nasty text somewhere in what is served
    blob = json.dumps([users, accs, tags], ensure_ascii=False)
    for needle in ("<script>alert(1)</script>", "é", '\\"'):
        assert needle in blob, needle
    assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", blob)  # CJK
    assert re.search(r"[\U0001F300-\U0001FAFF]", blob)  # emoji


def test_reload_after_mutation(small):
    conv = small.dataset.conversations[-1]
    conv["updatedAt"] = 1_800_000_000_000
    conv["status"] = "open"
    small.reload()
    with client_for(small) as c:
        first = c.get("/conversations/list", params={"limit": 1}).json()["data"][0]
        assert first["id"] == conv["id"] and first["updatedAt"] == 1_800_000_000_000
        assert c.get(f"/conversations/{conv['id']}").json()["data"]["status"] == "open"


# --- counters and admin -------------------------------------------------------------------------------


def test_request_counters(small):
    small.config.fault_429_every = 4
    with client_for(small) as c:
        c.get("/conversations/list")
        c.get("/conversations/116119985")
        c.get("/conversations/1")
        c.get("/accounts")  # 429: still counted
        c.get("/users/list")
        c.post("/app/token_info", json={"access_token": TOKEN})
        c.get("/nope")
        c.get("/users/list", headers={"Authorization": "Bearer bad"})
        counts = small.request_counts()
        assert counts == {
            "GET /conversations/list": 1,
            "GET /conversations/{id}": 2,
            "GET /accounts": 1,
            "GET /users/list": 2,
            "POST /app/token_info": 1,
            "GET /nope": 1,
        }
        stats = c.get("/_simulator/stats").json()
        assert stats == {"requests": counts, "total": 8}
        counts["GET /accounts"] = 99  # a copy
        assert small.request_counts()["GET /accounts"] == 1
        assert c.post("/_simulator/reset").status_code == 200
        assert small.request_counts() == {}
        c.get("/users/list")
        small.reset_counts()
        assert c.get("/_simulator/stats").json() == {"requests": {}, "total": 0}


# --- packaging rules ------------------------------------------------------------------------------------


def test_shares_no_code_with_driftsync():
    pkg_dir = Path(simulator_pkg.__file__).parent
    for py in pkg_dir.rglob("*.py"):
        text = py.read_text("utf-8")
        for m in re.finditer(r"^\s*(?:from|import)\s+([\w.]+)", text, re.M):
            mod = m.group(1)
            assert not (
                mod.startswith("driftsync") and not mod.startswith("driftsync.simulator")
            ), (py, mod)
            assert not mod.startswith(".."), (py, mod)


def test_cli_runs_in_foreground_and_stops_on_sigterm():
    src = str(Path(simulator_pkg.__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "driftsync.simulator",
            "--port",
            "0",
            "--conversations",
            "30",
            "--accounts",
            "5",
            "--users",
            "3",
            "--token",
            "cli-token",
            "--pagination",
            "cursor",
            "--missing-scopes",
            "user_read,account_read",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = proc.stdout.readline()
        m = re.fullmatch(
            r"Drift simulator listening on (http://127\.0\.0\.1:(\d+)) \(token: cli-token\)\n", line
        )
        assert m, line + proc.stderr.read() if proc.poll() is not None else line
        with httpx.Client(
            base_url=m.group(1), headers={"Authorization": "Bearer cli-token"}, timeout=5
        ) as c:
            body = c.get("/conversations/list", params={"limit": 100}).json()
            assert len(body["data"]) == 30 and "pagination" not in body
            assert c.get("/users/list").status_code == 403
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# --- OAuth ------------------------------------------------------------------------------------------

OAUTH = dict(client_id="cid-123", client_secret="s3cret", refresh_token="rt-0")
TOKEN_KEYS = ["access_token", "refresh_token", "token_type", "expires_in", "orgId"]


def oauth_sim(**kw) -> DriftSimulator:
    return DriftSimulator(cfg(accounts=10, conversations=30, users=4, **{**OAUTH, **kw}))


def refresh_form(c: httpx.Client, refresh_token: str, **override) -> httpx.Response:
    data = dict(OAUTH, grant_type="refresh_token", refresh_token=refresh_token)
    data.update(override)
    return c.post("/oauth2/token", data={k: v for k, v in data.items() if v is not None})


def assert_oauth_error(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == code and isinstance(body["error_description"], str)


def test_oauth_endpoint_absent_without_client_id(small):
    with httpx.Client(base_url=small.url, timeout=5) as c:
        r = c.post("/oauth2/token", data={"grant_type": "refresh_token", "refresh_token": "x"})
    assert r.status_code == 404 and r.json() == ERR_404
    assert small.request_counts() == {"POST /oauth2/token": 1}
    assert small.current_tokens() == (TOKEN, None)


def test_oauth_refresh_rotates():
    with oauth_sim() as s, httpx.Client(base_url=s.url, timeout=5) as c:
        assert s.current_tokens() == (TOKEN, "rt-0")
        r = refresh_form(c, "rt-0")
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
        body = r.json()
        assert list(body) == TOKEN_KEYS
        assert body["token_type"] == "bearer" and body["expires_in"] == 7200
        assert body["orgId"] == s.dataset.org_id
        access, refresh = body["access_token"], body["refresh_token"]
        assert access != TOKEN and refresh != "rt-0" and access != refresh
        assert s.current_tokens() == (access, refresh)
        # the new access token works at once, the old one still works
        for token in (access, TOKEN):
            assert (
                c.get("/users/list", headers={"Authorization": f"Bearer {token}"}).status_code
                == 200
            )
        # rotation: the used refresh token is dead, the new one works once
        assert_oauth_error(refresh_form(c, "rt-0"), 400, "invalid_grant")
        r2 = refresh_form(c, refresh)
        assert r2.status_code == 200
        assert_oauth_error(refresh_form(c, refresh), 400, "invalid_grant")
        assert s.current_tokens() == (r2.json()["access_token"], r2.json()["refresh_token"])
        assert c.get("/_simulator/tokens").json() == {
            "access_token": r2.json()["access_token"],
            "refresh_token": r2.json()["refresh_token"],
        }
        # token_info knows refreshed tokens (Drift reports lifetimes in milliseconds there)
        info = c.post("/app/token_info", json={"access_token": access}).json()
        assert info["access_token"] == access and info["expires_in"] == 7_200_000
        assert abs(info["created_at"] - time.time() * 1000) < 60_000
        counts = s.request_counts()
        assert counts["POST /oauth2/token"] == 4 and "GET /_simulator/tokens" not in counts
    # deterministic tokens for a given seed
    with oauth_sim() as s2, httpx.Client(base_url=s2.url, timeout=5) as c:
        assert refresh_form(c, "rt-0").json()["access_token"] == access


@pytest.mark.parametrize("variant", ["json", "camel", "basic"])
def test_oauth_body_variants(variant):
    with oauth_sim() as s, httpx.Client(base_url=s.url, timeout=5) as c:
        if variant == "json":
            r = c.post("/oauth2/token", json=dict(OAUTH, grant_type="refresh_token"))
        elif variant == "camel":  # Drift's own sample app (Driftt/definely)
            r = c.post(
                "/oauth2/token",
                json={
                    "clientId": "cid-123",
                    "clientSecret": "s3cret",
                    "refreshToken": "rt-0",
                    "grantType": "refresh_token",
                },
            )
        else:  # RFC 6749 client_secret_basic
            r = c.post(
                "/oauth2/token",
                data={"grant_type": "refresh_token", "refresh_token": "rt-0"},
                auth=("cid-123", "s3cret"),
            )
        assert r.status_code == 200, r.text
        assert list(r.json()) == TOKEN_KEYS
        assert s.current_tokens()[1] == r.json()["refresh_token"]


def test_oauth_errors():
    with oauth_sim() as s, httpx.Client(base_url=s.url, timeout=5) as c:
        assert_oauth_error(refresh_form(c, "rt-0", client_secret="nope"), 401, "invalid_client")
        assert_oauth_error(refresh_form(c, "rt-0", client_id="other"), 401, "invalid_client")
        assert_oauth_error(refresh_form(c, "rt-0", client_secret=None), 401, "invalid_client")
        assert_oauth_error(refresh_form(c, "bogus"), 400, "invalid_grant")
        assert_oauth_error(refresh_form(c, None), 400, "invalid_request")
        assert_oauth_error(refresh_form(c, "rt-0", grant_type=None), 400, "invalid_request")
        assert_oauth_error(
            refresh_form(c, "rt-0", grant_type="authorization_code"), 400, "unsupported_grant_type"
        )
        r = c.post("/oauth2/token", content=b"{nope", headers={"Content-Type": "application/json"})
        assert_oauth_error(r, 400, "invalid_request")
        # none of that burnt the refresh token
        assert s.current_tokens() == (TOKEN, "rt-0")
        assert refresh_form(c, "rt-0").status_code == 200
    with oauth_sim(refresh_token=None) as s, httpx.Client(base_url=s.url, timeout=5) as c:
        assert_oauth_error(refresh_form(c, "rt-0"), 400, "invalid_grant")


def test_token_expires_after_requests():
    with oauth_sim(token_expires_after_requests=3) as s, client_for(s) as c:
        assert c.get("/users/list").status_code == 200
        assert c.get("/conversations/999").status_code == 404  # authenticated: counts
        assert c.post("/app/token_info", json={"access_token": TOKEN}).status_code == 200
        r = c.get("/users/list")
        assert r.status_code == 401 and r.json() == ERR_401
        assert c.post("/app/token_info", json={"access_token": TOKEN}).status_code == 401
        body = refresh_form(c, "rt-0").json()
        new = {"Authorization": f"Bearer {body['access_token']}"}
        assert [c.get("/accounts", headers=new).status_code for _ in range(4)] == [200] * 3 + [401]
        assert c.get("/users/list").status_code == 401  # the old one stays expired
        # refreshing again gives a fresh budget; the refresh itself needs no access token
        body = refresh_form(c, body["refresh_token"]).json()
        assert c.get("/accounts", headers={"Authorization": f"Bearer {body['access_token']}"})


def test_token_expires_after_seconds():
    with oauth_sim(token_expires_after_seconds=0.5) as s, client_for(s) as c:
        assert c.get("/users/list").status_code == 200
        time.sleep(0.55)
        r = c.get("/users/list")
        assert r.status_code == 401 and r.json() == ERR_401
        access = refresh_form(c, "rt-0").json()["access_token"]
        new = {"Authorization": f"Bearer {access}"}
        assert c.get("/users/list", headers=new).status_code == 200
        time.sleep(0.55)
        assert c.get("/users/list", headers=new).status_code == 401


def test_oauth_faults_revocation_and_counting():
    with oauth_sim(fault_429_every=2) as s, httpx.Client(base_url=s.url, timeout=5) as c:
        assert refresh_form(c, "rt-0").status_code == 200
        assert refresh_form(c, s.current_tokens()[1]).status_code == 429  # faults apply too
        assert refresh_form(c, s.current_tokens()[1]).status_code == 200
        assert s.request_counts() == {"POST /oauth2/token": 3}
    with oauth_sim(revoke_after=1) as s, client_for(s) as c:
        assert c.get("/users/list").status_code == 200
        assert c.get("/users/list").status_code == 401
        assert_oauth_error(refresh_form(c, "rt-0"), 400, "invalid_grant")
        assert_oauth_error(refresh_form(c, "rt-0", client_secret="x"), 401, "invalid_client")


# --- data mutations ---------------------------------------------------------------------------------


def list_ids(c: httpx.Client, params=None) -> list[int]:
    return [i["id"] for p in walk_links(c, {"limit": 100, **(params or {})}) for i in p["data"]]


def test_update_conversations_by_ids(small):
    convs = small.dataset.conversations
    before = [c["id"] for c in convs]
    top = convs[0]["updatedAt"]
    picked = [before[-1], before[30], before[10]]
    changed = small.update_conversations(ids=picked)
    assert sorted(changed) == sorted(picked)
    assert changed == sorted(picked, reverse=True)  # list order: same updatedAt, id desc
    with client_for(small) as c:
        ids = list_ids(c)
        assert ids == changed + [i for i in before if i not in picked]
        assert ids == [c["id"] for c in small.dataset.conversations]
        first = c.get("/conversations/list", params={"limit": 3}).json()["data"]
        stamps = {i["updatedAt"] for i in first}
        assert len(stamps) == 1 and stamps.pop() > top
        detail = c.get(f"/conversations/{picked[0]}").json()["data"]
        assert detail["updatedAt"] == first[0]["updatedAt"]
        assert list(detail) == list(next(x for x in convs if x["id"] == picked[0]))
        # status filters stay consistent with the data
        want = expected_order([x for x in small.dataset.conversations if x["status"] == "open"])
        assert list_ids(c, {"statusId": 1}) == want
    # the clock only moves forward: a second update is later still
    again = small.update_conversations(ids=[before[20]], status="pending")
    assert small.dataset.conversations[0]["id"] == again[0]
    assert small.dataset.conversations[0]["status"] == "pending"
    assert small.dataset.conversations[0]["updatedAt"] > first[0]["updatedAt"]
    # explicit time: placed where it sorts
    old = small.update_conversations(ids=[again[0]], now_ms=1_600_000_000_000)
    assert small.dataset.conversations[0]["id"] != old[0]
    assert small.dataset.conversations == sorted(
        small.dataset.conversations, key=lambda x: (x["updatedAt"], x["id"]), reverse=True
    )
    with pytest.raises(ValueError):
        small.update_conversations(ids=[1])
    with pytest.raises(ValueError):
        small.update_conversations()
    with pytest.raises(ValueError):
        small.update_conversations(ids=[before[0]], status="archived")


def test_update_conversations_fraction_is_deterministic():
    runs = []
    for _ in range(2):
        s = DriftSimulator(cfg(conversations=400, accounts=5, users=4))
        status = {c["id"]: c["status"] for c in s.dataset.conversations}
        a = s.update_conversations(fraction=0.05)
        b = s.update_conversations(fraction=0.05)
        runs.append((a, b, s.dataset.conversations))
    assert runs[0] == runs[1]
    a, b, convs = runs[0]
    assert len(a) == len(b) == 20 and a != b
    assert [c["id"] for c in convs[: len(b)]] == b
    # "maybe status": some of the touched conversations changed status, some did not
    flipped = [c["id"] for c in convs[:20] if c["status"] != status[c["id"]]]
    assert 0 < len(flipped) < 20
    assert len(DriftSimulator(cfg(conversations=10)).update_conversations(fraction=0.001)) == 1


def test_add_conversations(small):
    max_id = max(c["id"] for c in small.dataset.conversations)
    new = small.add_conversations(3)
    assert len(new) == 3 and new == sorted(new, reverse=True) and min(new) > max_id
    with client_for(small) as c:
        ids = list_ids(c)
        assert ids[:3] == new and len(ids) == 63
        detail = c.get(f"/conversations/{new[0]}").json()["data"]
        assert detail["status"] == "open" and detail["createdAt"] == detail["updatedAt"]
        assert list(detail)[:5] == ["status", "participants", "contactId", "createdAt", "id"]
        assert set(detail["participants"]) <= {u["id"] for u in small.dataset.users}
    assert small.add_conversations(0) == []


def test_account_and_user_mutations(small):
    accounts = small.dataset.accounts
    keys = [accounts[3]["accountId"], accounts[1]["accountId"]]
    old_names = {a["accountId"]: a["name"] for a in accounts}
    assert small.update_accounts(keys) == keys[::-1]  # list order
    with client_for(small) as c:
        got = c.get("/accounts", params={"size": 100}).json()["data"]
        assert [a["accountId"] for a in got["accounts"]] == list(old_names)  # same positions
        a1 = got["accounts"][1]
        assert a1["name"] == old_names[keys[1]] + f" (rev {small._mutations})"
        assert a1["updateDateTime"] > max(old["updateDateTime"] for old in accounts)
        assert small.update_accounts(keys[:1])  # renamed again: one suffix only
        assert small.dataset.accounts[3]["name"].count(" (rev ") == 1
        sampled = small.update_accounts(fraction=0.1)
        assert len(sampled) == 3
        assert small.remove_accounts([keys[0]]) == [keys[0]]
        got = c.get("/accounts", params={"size": 100}).json()["data"]
        assert got["total"] == 29 and keys[0] not in {a["accountId"] for a in got["accounts"]}
        users = small.dataset.users
        uid = users[2]["id"]
        assert small.update_users([uid]) == [uid]
        listed = c.get("/users/list").json()["data"]
        assert listed[2]["name"].endswith(")") and listed[2]["updatedAt"] == small._clock_ms
        assert small.remove_users([users[0]["id"]]) == [users[0]["id"]]
        assert [u["id"] for u in c.get("/users/list").json()["data"]] == [
            u["id"] for u in users[1:]
        ]
    with pytest.raises(ValueError):
        small.remove_accounts(["no-such-account"])
    with pytest.raises(ValueError):
        small.update_users(["nope"])


def test_admin_mutate(small):
    with httpx.Client(base_url=small.url, timeout=5) as c:
        target = small.dataset.conversations[-1]["id"]

        def mutate(body):
            r = c.post("/_simulator/mutate", json=body)
            assert r.status_code == 200, r.text
            return r.json()["changed"]

        assert mutate({"update_conversations": {"ids": [target]}}) == [target]
        assert small.dataset.conversations[0]["id"] == target
        assert len(mutate({"update_conversations": {"fraction": 0.1}})) == 6
        new = mutate({"add_conversations": 5})
        assert len(new) == 5 and small.dataset.conversations[0]["id"] == new[0]
        assert len(mutate({"update_accounts": {"fraction": 0.1}})) == 3
        key = small.dataset.accounts[5]["accountId"]
        assert mutate({"update_accounts": {"keys": [key]}}) == [key]
        assert mutate({"remove_accounts": [key]}) == [key]
        uid = small.dataset.users[1]["id"]
        assert mutate({"update_users": {"ids": [uid]}}) == [uid]
        assert mutate({"remove_users": [uid]}) == [uid]
        assert len(small.dataset.accounts) == 29 and len(small.dataset.users) == 4
        for bad in (
            {},
            {"add_conversations": 1, "remove_users": []},
            {"explode": 1},
            {"update_conversations": {"ids": [1]}},
            {"update_conversations": {}},
            {"update_conversations": {"fraction": 2}},
            {"remove_accounts": "abc"},
        ):
            r = c.post("/_simulator/mutate", json=bad)
            assert r.status_code == 400 and r.json()["error"]["type"] == "validation_error", bad
        assert c.post("/_simulator/mutate", content=b"nope").status_code == 400
    assert small.request_counts() == {}  # admin calls are not API requests


def test_mid_run_mutation_links_mode():
    positions = (5, 50, 150)
    with DriftSimulator(cfg(conversations=200, mutate_after_list_pages=2)) as s, client_for(s) as c:
        order = [x["id"] for x in s.dataset.conversations]
        moved = [order[p] for p in positions]
        s.config.mutate_conversation_ids = moved
        pages = walk_links(c, {"limit": 20})
        seen = [i["id"] for p in pages for i in p["data"]]
        # 5 was already served; 50 and 150 jumped ahead of the client's position: missed
        assert len(seen) == len(set(seen)) == 198
        assert set(order) - set(seen) == {order[50], order[150]}
        assert s.hook_changed == sorted(moved, reverse=True)
        # a fresh run sees them first; the hook fired once only
        assert list_ids(c)[:3] == s.hook_changed
        assert s.request_counts()["GET /conversations/list"] == len(pages) + 2
        # reset_counts re-arms it
        s.reset_counts()
        s.config.mutate_conversation_ids = [order[199]]
        walk_links(c, {"limit": 20}, max_pages=2)
        assert s.hook_changed == [order[199]]


def test_mid_run_mutation_cursor_mode():
    with (
        DriftSimulator(cfg(conversations=200, pagination="cursor", mutate_after_list_pages=2)) as s,
        client_for(s) as c,
    ):
        order = [x["id"] for x in s.dataset.conversations]
        s.config.mutate_conversation_ids = [order[5], order[50], order[150]]
        seen = [i["id"] for p in walk_cursor(c, {"limit": 20}) for i in p["data"]]
    # offsets shift: 2 items come twice, 2 are never seen
    assert len(seen) == 200 and len(set(seen)) == 198
    assert set(order) - set(seen) == {order[50], order[150]}


def test_mid_run_mutation_callable_and_fraction(capsys):
    calls = []

    def hook(sim):
        calls.append(sim)
        sim.add_conversations(2)
        return None

    with (
        DriftSimulator(
            cfg(conversations=100, mutate_after_list_pages=1, mutate_conversation_ids=hook)
        ) as s,
        client_for(s) as c,
    ):
        c.get("/conversations/list")
        assert calls == [s] and len(s.dataset.conversations) == 102
        s.reset_counts()
        s.config.mutate_conversation_ids = lambda sim: [sim.dataset.conversations[-1]["id"], 1]
        s.config.mutate_conversation_fraction = 0.05
        last = s.dataset.conversations[-1]["id"]
        c.get("/conversations/list")
        assert len(s.hook_changed) in (5, 6) and last in s.hook_changed  # unknown ids skipped
        s.reset_counts()
        s.config.mutate_conversation_ids = lambda sim: 1 / 0
        assert c.get("/conversations/list").status_code == 200  # a broken hook breaks nothing
    assert "ZeroDivisionError" in capsys.readouterr().err


def test_mutation_of_100k_conversations_is_fast():
    with (
        DriftSimulator(cfg(conversations=100_000, accounts=5, users=5, include_samples=False)) as s,
        client_for(s) as c,
    ):
        first = c.get("/conversations/list", params={"limit": 100}).json()
        open_first = c.get("/conversations/list", params={"statusId": 1}).json()
        # Like the CLI does: keep the freshly generated dataset out of GC passes (otherwise
        # its first promotion to an older generation may land inside the timed call).
        gc.freeze()
        try:
            t = time.perf_counter()
            changed = s.update_conversations(fraction=0.01)
            elapsed = time.perf_counter() - t
            t = time.perf_counter()
            s.update_conversations(fraction=0.01)
            elapsed2 = time.perf_counter() - t
        finally:
            gc.unfreeze()
        assert len(changed) == 1000
        assert elapsed < 0.5 and elapsed2 < 0.5, (elapsed, elapsed2)
        # tokens minted before both re-renders still work; the moved ones are not repeated
        nxt = c.get(first["links"]["next"]).json()
        assert nxt["data"] and not {i["id"] for i in nxt["data"]} & set(changed)
        assert c.get(open_first["links"]["next"]).status_code == 200
        top = c.get("/conversations/list", params={"limit": 100}).json()["data"]
        assert all(i["updatedAt"] >= top[-1]["updatedAt"] for i in top)
        convs = s.dataset.conversations
        keys = [(x["updatedAt"], x["id"]) for x in convs]
        assert keys == sorted(keys, reverse=True) and len(convs) == 100_000


def test_config_validation_of_new_fields():
    for bad in (
        {"token_expires_after_requests": -1},
        {"token_expires_after_seconds": -0.5},
        {"mutate_after_list_pages": -1},
        {"mutate_conversation_fraction": 1.5},
    ):
        with pytest.raises(ValueError):
            SimulatorConfig(**bad)
    assert SimulatorConfig(mutate_conversation_ids=(3, "4")).mutate_conversation_ids == [3, 4]


def test_cli_oauth_and_mutation_flags():
    src = str(Path(simulator_pkg.__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "driftsync.simulator", "--port", "0", "--conversations", "40",
         "--accounts", "5", "--users", "3", "--token", "cli-token", "--client-id", "cid",
         "--client-secret", "sec", "--refresh-token", "rt", "--token-expires-after-requests", "2",
         "--mutate-after-list-pages", "1", "--mutate-conversation-ids", "1,2",
         "--mutate-conversation-fraction", "0.05"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )  # fmt: skip
    try:
        line = proc.stdout.readline()
        m = re.fullmatch(r"Drift simulator listening on (http://127\.0\.0\.1:\d+) .*\n", line)
        assert m, line
        assert proc.stdout.readline() == f"OAuth: POST {m.group(1)}/oauth2/token (client_id: cid)\n"
        with httpx.Client(base_url=m.group(1), timeout=5) as c:
            auth = {"Authorization": "Bearer cli-token"}
            first = c.get("/conversations/list", headers=auth).json()["data"]
            top = c.get("/conversations/list", headers=auth).json()["data"]
            assert top[:2] != first[:2]  # the hook moved 2 conversations (5% of 40) up front
            assert c.get("/users/list", headers=auth).status_code == 401  # 2 uses spent
            r = c.post(
                "/oauth2/token",
                data={"grant_type": "refresh_token", "refresh_token": "rt",
                      "client_id": "cid", "client_secret": "sec"},
            )  # fmt: skip
            assert r.status_code == 200
            new = {"Authorization": f"Bearer {r.json()['access_token']}"}
            assert c.get("/users/list", headers=new).status_code == 200
            changed = c.post("/_simulator/mutate", json={"add_conversations": 1}).json()["changed"]
            assert c.get("/conversations/list", headers=new).json()["data"][0]["id"] == changed[0]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
