"""The public surface (tools, resources, prompt) against its snapshot.

A change to a name, description, schema or annotation fails here until the snapshot is
regenerated on purpose::

    UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/mcp_server/test_public_surface.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mcp import Client

from tests.mcp_server.conftest import ServerFactory, make_settings

SNAPSHOT = Path(__file__).parent / "snapshots" / "public_surface.json"


async def public_surface(make_server: ServerFactory) -> dict[str, Any]:
    # default caps (MCP_MAX_IDS=20, MCP_WAIT_MAX_SECONDS=600) appear in the descriptions
    async with Client(make_server(settings=make_settings())) as client:
        tools = (await client.list_tools()).tools
        templates = (await client.list_resource_templates()).resource_templates
        resources = (await client.list_resources()).resources
        prompts = (await client.list_prompts()).prompts
    dump: dict[str, Any] = {"by_alias": True, "exclude_none": True, "mode": "json"}
    return {
        "tools": [
            tool.model_dump(
                include={
                    "name",
                    "title",
                    "description",
                    "input_schema",
                    "output_schema",
                    "annotations",
                },
                **dump,
            )
            for tool in tools
        ],
        "resource_templates": [template.model_dump(**dump) for template in templates],
        "resources": [resource.model_dump(**dump) for resource in resources],
        "prompts": [prompt.model_dump(**dump) for prompt in prompts],
    }


async def test_the_public_surface_matches_its_snapshot(make_server: ServerFactory) -> None:
    surface = json.dumps(
        await public_surface(make_server), indent=2, sort_keys=True, ensure_ascii=False
    )
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(surface + "\n", encoding="utf-8")
    assert SNAPSHOT.exists(), "no snapshot yet: run with UPDATE_SNAPSHOTS=1 once"
    expected = SNAPSHOT.read_text(encoding="utf-8").rstrip("\n")
    assert surface == expected, (
        "The MCP public surface changed. If that is deliberate, regenerate the snapshot with "
        "UPDATE_SNAPSHOTS=1 and review the diff."
    )


async def test_every_tool_sets_all_four_annotation_hints_in_the_snapshot() -> None:
    surface = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    for tool in surface["tools"]:
        assert tool["annotations"] == {
            "readOnlyHint": True,
            "destructiveHint": False,
            "idempotentHint": True,
            "openWorldHint": True,
        }, tool["name"]
        assert "outputSchema" in tool, tool["name"]
