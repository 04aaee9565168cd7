// Drives `python -m mcp_server` over stdio with the official TypeScript MCP SDK and prints
// what it saw as one JSON object on stdout (test_typescript_sdk.py checks it).
//
//   PYTHON=.venv/bin/python node stdio_client.mjs <request-id>
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const requestId = process.argv[2];
if (!requestId) {
  console.error("usage: node stdio_client.mjs <request-id>");
  process.exit(2);
}

const transport = new StdioClientTransport({
  command: process.env.PYTHON ?? "python3",
  args: ["-m", "mcp_server"],
  env: { ...process.env },
  stderr: "inherit",
});
const client = new Client({ name: "capture-status-interop", version: "1.0.0" });
await client.connect(transport);

const { tools } = await client.listTools();
// callTool validates structuredContent against the tool's outputSchema
const found = await client.callTool({
  name: "get_capture_status",
  arguments: { request_id: requestId },
});
const invalid = await client.callTool({
  name: "get_capture_status",
  arguments: { request_id: "not a request id" },
});
const { resourceTemplates } = await client.listResourceTemplates();

console.log(
  JSON.stringify({
    server: client.getServerVersion(),
    tools: tools.map((tool) => ({
      name: tool.name,
      annotations: tool.annotations,
      hasOutputSchema: Boolean(tool.outputSchema),
    })),
    found: { isError: Boolean(found.isError), structuredContent: found.structuredContent },
    invalid: { isError: Boolean(invalid.isError), text: invalid.content?.[0]?.text },
    resourceTemplates: resourceTemplates.map((template) => template.uriTemplate),
  }),
);
await client.close();
