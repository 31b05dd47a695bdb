"""The front-end assets are the npm packages named in package.json, vendored with their
licences, and nothing is loaded from anywhere but the app itself (it works offline)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import driftsync.web

WEB = Path(driftsync.web.__file__).parent
VENDOR = WEB / "static" / "vendor"


def test_vendored_assets_are_the_versions_pinned_in_package_json() -> None:
    wanted = json.loads((WEB / "assets" / "package.json").read_text())["dependencies"]
    locked = json.loads((WEB / "assets" / "package-lock.json").read_text())["packages"]
    vendored = json.loads((VENDOR / "versions.json").read_text())
    assert vendored == wanted
    for name, version in wanted.items():
        assert locked[f"node_modules/{name}"]["version"] == version
    assert f'version:"{wanted["htmx.org"]}"' in (VENDOR / "htmx.min.js").read_text()
    assert f"Pico CSS ✨ v{wanted['@picocss/pico']}" in (VENDOR / "pico.min.css").read_text()
    assert "Zero-Clause BSD" in (VENDOR / "htmx.LICENSE").read_text()
    assert "MIT License" in (VENDOR / "pico.LICENSE.md").read_text()


def test_templates_and_styles_load_nothing_from_other_hosts() -> None:
    for path in [*(WEB / "templates").iterdir(), WEB / "static" / "app.css"]:
        text = path.read_text()
        assert not re.search(r"(src|href)=\"(https?:)?//", text), path.name
        assert "@import" not in text and "url(http" not in text, path.name
