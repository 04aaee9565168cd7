"""The capture-status MCP server: LeadSquared capture requests for AI assistants.

``python -m mcp_server`` serves stdio; ``--transport http`` serves streamable HTTP. The
server itself is built by :func:`mcp_server.server.build_server`. Nothing is imported here,
so that starting the server imports only what its transport needs.
"""
