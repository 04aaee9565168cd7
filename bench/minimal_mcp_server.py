"""The floor of ``mcp_cold_start``: a one-tool ``MCPServer`` over stdio, nothing else.

Its start-up is what the SDK's own imports and set-up cost; the capture-status server is
measured against it. Run: ``python bench/minimal_mcp_server.py`` (speaks MCP on stdio).
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

server = MCPServer("minimal")


@server.tool()
def ping() -> str:
    """Answer pong."""
    return "pong"


if __name__ == "__main__":
    server.run()
