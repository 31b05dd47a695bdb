"""The README's dlt recipe, run as written against the simulator, into DuckDB."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from .conftest import fetch_rows, running

README = Path(__file__).resolve().parents[1] / "README.md"


def recipe() -> str:
    """The Python block that follows the ``tested by tests/test_source.py`` marker."""
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- tested by tests/test_source.py -->\n```python\n(.*?)```", text,
                      re.DOTALL)
    assert match, "the README lost its dlt recipe"
    return match.group(1)


def run_recipe(sim: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
               ) -> tuple[str, dict[str, Any]]:
    """What the recipe printed, and its variables."""
    monkeypatch.setenv("DRIFT_ACCESS_TOKEN", sim.config.token)
    monkeypatch.setenv("DRIFT_API_URL", sim.url)
    variables: dict[str, Any] = {"__name__": "recipe"}
    exec(compile(recipe(), "README.md", "exec"), variables)  # noqa: S102
    return capsys.readouterr().out, variables


def test_the_readme_recipe_loads_drift_into_duckdb_and_then_only_what_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt"))  # dlt's files, not ~/.dlt
    database = tmp_path / "drift_pipeline.duckdb"
    with running(conversations=250, accounts=60, users=9) as sim:
        printed, variables = run_recipe(sim, monkeypatch, capsys)
        assert "1 load package(s) were loaded" in printed

        def stored() -> dict[int, tuple[int, str]]:
            rows = fetch_rows(database, 'SELECT id, "updatedAt", status '
                                        "FROM drift_pipeline.drift.conversations")
            assert len(rows) == len({r["id"] for r in rows})
            return {r["id"]: (r["updatedAt"], r["status"]) for r in rows}

        expected = {c["id"]: (c["updatedAt"], c["status"]) for c in sim.dataset.conversations}
        assert stored() == expected
        accounts = fetch_rows(database, 'SELECT "accountId", name FROM drift_pipeline.drift.accounts')
        assert {r["accountId"]: r["name"] for r in accounts} == {
            a["accountId"]: a.get("name") for a in sim.dataset.accounts}
        users = fetch_rows(database, "SELECT id FROM drift_pipeline.drift.users")
        assert sorted(r["id"] for r in users) == sorted(u["id"] for u in sim.dataset.users)
        tags = fetch_rows(database, 'SELECT "conversationId", name '
                                    "FROM drift_pipeline.drift.conversation_tags")
        assert sorted((r["conversationId"], r["name"]) for r in tags) == sorted(
            (c["id"], t["name"]) for c in sim.dataset.conversations
            for t in c.get("conversationTags") or [])

        changed = sim.update_conversations(fraction=0.04)
        sim.reset_counts()
        run_recipe(sim, monkeypatch, capsys)  # the orchestrator's next run
        counts = sim.request_counts()
        assert stored() == {c["id"]: (c["updatedAt"], c["status"])
                            for c in sim.dataset.conversations}
        assert counts["GET /conversations/list"] <= 2  # incremental through dlt's state
        assert counts["GET /conversations/{id}"] <= len(changed) + 100  # the newest page
    columns = fetch_rows(database, "SELECT column_name, data_type FROM duckdb_columns() WHERE "
                                   "schema_name = 'drift' AND table_name = 'conversations'")
    types = {c["column_name"]: c["data_type"] for c in columns}
    assert (types["id"], types["updatedAt_ts"]) == ("BIGINT", "TIMESTAMP WITH TIME ZONE")
    from driftsync.catalog import CATALOG

    schema = variables["pipeline"].default_schema.get_table("conversations")["columns"]
    assert schema["updatedAt"]["description"] == (
        CATALOG["conversations"].column("updatedAt").comment)


def test_a_table_the_source_does_not_offer_is_named_in_one_line() -> None:
    from driftsync import drift_source
    from driftsync.errors import ConfigError

    with pytest.raises(ConfigError) as error:
        drift_source(token="t", tables=["messages"])
    assert str(error.value) == (
        "drift_source has no table 'messages'; choose from accounts, conversations, users, "
        "teams, meetings, contact_attributes, playbooks, conversational_landing_pages (nested "
        "tables come with their parent; messages and contacts need the driftsync CLI).")


def test_the_token_comes_from_sources_drift_token_as_the_readme_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dlt

    from driftsync import drift_source

    monkeypatch.chdir(tmp_path)  # no .dlt/secrets.toml of anyone's
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt"))
    with running(conversations=20, accounts=5, users=4) as sim:
        monkeypatch.setenv("SOURCES__DRIFT__TOKEN", sim.config.token)
        pipeline = dlt.pipeline(pipeline_name="secrets_pipeline", destination="duckdb",
                                dataset_name="drift", pipelines_dir=str(tmp_path / "p"))
        pipeline.run(drift_source(api_url=sim.url, tables=["users"]))
    rows = fetch_rows(tmp_path / "secrets_pipeline.duckdb",
                      "SELECT count(*) AS n FROM drift.users")
    assert rows == [{"n": 4}]
