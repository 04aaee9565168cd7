"""manifest.yml: valid against the public schema, and exactly what the app serves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import jsonschema
import yaml

from bot.actions import COMMAND, COMMAND_PATTERN, SHORTCUT_CALLBACK_ID

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "manifest.yml"
#: the public JSON schema of Slack app manifests, kept in the repository so the check always runs
SCHEMA = Path(__file__).with_name("slack-app-manifest.schema.json")
HTTP_URL = "https://capture-status.example.com/slack/events"


def _schema() -> dict[str, Any]:
    return cast("dict[str, Any]", json.loads(SCHEMA.read_text()))


def _manifest() -> dict[str, Any]:
    return cast("dict[str, Any]", yaml.safe_load(MANIFEST.read_text()))


def test_the_manifest_is_valid_against_the_schema() -> None:
    jsonschema.validate(_manifest(), _schema())


def test_the_http_variant_described_in_its_comments_is_valid_too() -> None:
    manifest = _manifest()
    manifest["settings"]["socket_mode_enabled"] = False
    manifest["features"]["slash_commands"][0]["url"] = HTTP_URL
    manifest["settings"]["interactivity"]["request_url"] = HTTP_URL
    manifest["settings"]["event_subscriptions"]["request_url"] = HTTP_URL
    jsonschema.validate(manifest, _schema())
    assert MANIFEST.read_text().count(f"# url: {HTTP_URL}") == 1
    assert MANIFEST.read_text().count(f"# request_url: {HTTP_URL}") == 2


def test_it_declares_exactly_what_the_handlers_serve() -> None:
    manifest = _manifest()
    features, settings = manifest["features"], manifest["settings"]
    [command] = features["slash_commands"]
    assert command["command"] == COMMAND
    assert COMMAND_PATTERN.match(command["command"])
    [shortcut] = features["shortcuts"]
    assert shortcut == {
        "name": "Check capture status",
        "type": "message",
        "callback_id": SHORTCUT_CALLBACK_ID,
        "description": shortcut["description"],
    }
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["event_subscriptions"]["bot_events"] == ["app_home_opened"]
    assert features["app_home"]["home_tab_enabled"] is True
    # watch notifications are DMs from the app: a Messages tab, read-only
    assert features["app_home"]["messages_tab_enabled"] is True
    assert features["app_home"]["messages_tab_read_only_enabled"] is True
    assert settings["socket_mode_enabled"] is True


def test_it_asks_for_the_minimal_scopes_only() -> None:
    scopes = _manifest()["oauth_config"]["scopes"]
    # files:write only for the CSV file of a triage job; im:write only to open the DM a
    # watch notification is posted in
    assert scopes == {"bot": ["commands", "chat:write", "files:write", "im:write"]}


def test_every_scope_says_why_it_is_asked_for() -> None:
    text = MANIFEST.read_text()
    for scope in _manifest()["oauth_config"]["scopes"]["bot"]:
        # each scope line comes right after its comment
        lines = text.splitlines()
        index = lines.index(f"      - {scope}")
        assert lines[index - 1].strip().startswith("#"), scope
