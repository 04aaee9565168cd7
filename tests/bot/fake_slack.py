"""A local stand-in for Slack's side of the conversation, for tests and the benchmark.

It is not a fake of LeadSquared (the simulator is the only one): it answers the few Web API
methods the app calls (``auth.test``, ``apps.connections.open``, ``chat.postEphemeral``,
``chat.postMessage``, ``chat.update``, ``views.publish``, ``conversations.open``, and the three
steps of
``files_upload_v2``: ``files.getUploadURLExternal``, the upload itself on ``/upload/<file id>``,
``files.completeUploadExternal``) and receives what the app posts to ``response_url``s
(``/hooks/<name>``), recording everything so a test can wait for it with a bounded,
event-driven wait.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

__all__ = [
    "APP_TOKEN",
    "BOT_TOKEN",
    "SIGNING_SECRET",
    "FakeSlack",
    "Received",
    "action_body",
    "command_body",
    "dm_channel",
    "event_body",
    "shortcut_body",
    "signed_headers",
]

SIGNING_SECRET = "test-signing-secret-8c1e"
BOT_TOKEN = "xoxb-test-bot-token-3f9a"
APP_TOKEN = "xapp-test-app-token-77d2"
TEAM_ID = "T0ACME"
BOT_USER_ID = "U0BOT"


@dataclass(frozen=True, slots=True)
class Received:
    """One request Slack's side received from the app."""

    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    at: float = field(default_factory=time.monotonic)


class FakeSlack:
    """Slack's Web API and response_url hooks on loopback, recording every request.

    Attributes:
        url: the base URL once served (set by the fixture).
        refuse_tokens: answer ``invalid_auth`` to auth.test and apps.connections.open.
        ws_url: what apps.connections.open hands out.
        hook_status: the HTTP status response_url hooks answer with.
        refuse: Web API methods answered ``{"ok": false, "error": <code>}``, by method name.
        refuse_channels: chat.postMessage answered ``{"ok": false, "error": <code>}`` in these
            channels (by channel id).
        rate_limited: Web API methods answered HTTP 429 ``ratelimited`` with this
            ``Retry-After`` (seconds), by method name, or ``<method>:<channel>`` for one
            channel only.
        server_error: Web API methods answered HTTP 500 (a text body, as a proxy would).
        upload_status: the HTTP status of the upload step of ``files_upload_v2``.
        uploads: the bytes uploaded, by file id.
    """

    def __init__(self) -> None:
        self.url = ""
        self.received: list[Received] = []
        self.refuse_tokens = False
        self.ws_url = "ws://127.0.0.1:9/unused"
        self.hook_status = 200
        self.refuse: dict[str, str] = {}
        self.refuse_channels: dict[str, str] = {}
        self.rate_limited: dict[str, int] = {}
        self.server_error: set[str] = set()
        self.upload_status = 200
        self.uploads: dict[str, bytes] = {}
        self._messages = 0
        self._changed = asyncio.Event()
        self.app = Starlette(
            routes=[
                Route("/api/{method}", self._api, methods=["POST", "GET"]),
                Route("/hooks/{name}", self._hook, methods=["POST"]),
                Route("/upload/{file_id}", self._upload, methods=["POST"]),
            ]
        )

    def hook_url(self, name: str) -> str:
        """A response_url that lands here."""
        return f"{self.url}/hooks/{name}"

    def posts(self, path: str) -> list[Received]:
        """Everything received on ``path`` so far."""
        return [r for r in self.received if r.path == path]

    async def wait_for(self, path: str, count: int = 1, *, within: float = 5.0) -> list[Received]:
        """Wait (bounded) until ``count`` requests arrived on ``path``; return them."""
        async with asyncio.timeout(within):
            while len(self.posts(path)) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.posts(path)

    async def _record(self, request: Request) -> Received:
        raw = await request.body()
        content_type = request.headers.get("content-type", "")
        body: dict[str, Any]
        if request.url.path.startswith("/upload/"):
            body = {"length": len(raw)}
        elif "json" in content_type:
            loaded: object = json.loads(raw or b"{}")
            body = cast("dict[str, Any]", loaded) if isinstance(loaded, dict) else {}
        else:
            body = dict(urllib.parse.parse_qsl(raw.decode()))
        # slack-sdk sends some methods' arguments (files.*) in the query string
        body = {**dict(request.query_params), **body}
        for key in ("blocks", "view", "files"):
            value = body.get(key)
            if isinstance(value, str) and value[:1] in "[{":
                body[key] = json.loads(value)
        received = Received(request.url.path, body, dict(request.headers))
        self.received.append(received)
        self._changed.set()
        return received

    def message_ts(self, number: int) -> str:
        """The ``ts`` of the ``number``-th message posted with chat.postMessage (from 1)."""
        return f"1700000100.{number:06d}"

    async def _api(self, request: Request) -> Response:
        received = await self._record(request)
        method = request.path_params["method"]
        if method in ("auth.test", "apps.connections.open") and self.refuse_tokens:
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        if method in self.refuse:
            return JSONResponse({"ok": False, "error": self.refuse[method]})
        channel = received.body.get("channel")
        limited = self.rate_limited.get(f"{method}:{channel}", self.rate_limited.get(method))
        if limited is not None:
            return JSONResponse(
                {"ok": False, "error": "ratelimited"},
                status_code=429,
                headers={"Retry-After": str(limited)},
            )
        if method in self.server_error:
            return PlainTextResponse("upstream connect error", 500)
        if method == "chat.postMessage" and channel in self.refuse_channels:
            return JSONResponse({"ok": False, "error": self.refuse_channels[channel]})
        dynamic = self._dynamic_answer(method, received.body)
        if dynamic is not None:
            return JSONResponse(dynamic)
        answers: dict[str, Mapping[str, Any]] = {
            "auth.test": {
                "ok": True,
                "url": "https://acme.slack.com/",
                "team": "Acme",
                "user": "capture-status",
                "team_id": TEAM_ID,
                "user_id": BOT_USER_ID,
                "bot_id": "B0BOT",
                "is_enterprise_install": False,
            },
            "apps.connections.open": {"ok": True, "url": self.ws_url},
            "chat.postEphemeral": {"ok": True, "message_ts": "1700000000.000100"},
            "views.publish": {"ok": True, "view": {"id": "V0HOME"}},
        }
        answer = answers.get(method, {"ok": False, "error": "unknown_method"})
        return JSONResponse(dict(answer))

    def _dynamic_answer(self, method: str, body: Mapping[str, Any]) -> dict[str, Any] | None:
        """Answers that depend on the request: new messages, updates, file uploads."""
        channel = body.get("channel") or body.get("channel_id")
        if method == "chat.postMessage":
            self._messages += 1
            return {"ok": True, "channel": channel, "ts": self.message_ts(self._messages)}
        if method == "conversations.open":
            user = str(body.get("users") or "")
            return {"ok": True, "channel": {"id": dm_channel(user)}}
        if method == "chat.update":
            return {"ok": True, "channel": channel, "ts": body.get("ts"), "text": body.get("text")}
        if method == "files.getUploadURLExternal":
            file_id = f"F0{len(self.posts('/api/files.getUploadURLExternal')):04d}"
            return {"ok": True, "upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}
        if method == "files.completeUploadExternal":
            files = body.get("files")
            listed = cast("list[dict[str, Any]]", files) if isinstance(files, list) else []
            return {
                "ok": True,
                "files": [{"id": f.get("id"), "title": f.get("title")} for f in listed],
            }
        return None

    async def _upload(self, request: Request) -> Response:
        await self._record(request)
        if self.upload_status != 200:
            return PlainTextResponse("upload refused", self.upload_status)
        data = await request.body()
        self.uploads[request.path_params["file_id"]] = data
        return PlainTextResponse(f"OK - {len(data)}")

    async def _hook(self, request: Request) -> Response:
        await self._record(request)
        if self.hook_status != 200:
            return PlainTextResponse("expired_url", self.hook_status)
        return PlainTextResponse("ok")


def dm_channel(user_id: str) -> str:
    """The id of the app's DM with ``user_id`` (``conversations.open`` answers it)."""
    return "D" + user_id[1:]


def signed_headers(
    body: str, *, timestamp: int | None = None, secret: str = SIGNING_SECRET
) -> dict[str, str]:
    """The headers Slack signs a request with (``v0=`` HMAC-SHA256 of ``v0:ts:body``)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    assert signature is not None
    return {"x-slack-request-timestamp": ts, "x-slack-signature": signature}


def command_body(
    text: str,
    *,
    response_url: str,
    user_id: str = "U0ALICE",
    channel_id: str = "C0OPS",
    team_id: str = TEAM_ID,
    command: str = "/capture-status",
) -> str:
    """A slash command as Slack posts it (form-encoded)."""
    return urllib.parse.urlencode(
        {
            "token": "legacy-verification-token",
            "team_id": team_id,
            "team_domain": "acme",
            "channel_id": channel_id,
            "channel_name": "ops",
            "user_id": user_id,
            "user_name": "alice",
            "command": command,
            "text": text,
            "api_app_id": "A0CAPTURE",
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": "1337.42.abcdef",
        }
    )


def _user(user_id: str, team_id: str) -> dict[str, str]:
    return {"id": user_id, "username": "alice", "team_id": team_id}


def action_body(
    action_id: str,
    value: str | None,
    *,
    response_url: str,
    user_id: str = "U0ALICE",
    channel_id: str = "C0OPS",
    team_id: str = TEAM_ID,
    url: str | None = None,
    ephemeral: bool = True,
    message_ts: str = "1700000000.000100",
    thread_ts: str | None = None,
) -> str:
    """A button click (``block_actions``) as Slack posts it: ``payload=<json>``.

    By default the button is on an ephemeral answer; ``ephemeral=False`` puts it on a
    message in the channel (``message_ts``; ``thread_ts`` when that message is a reply).
    """
    action: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "block_id": "b1",
        "text": {"type": "plain_text", "text": "Button"},
        "action_ts": "1700000000.000200",
    }
    if value is not None:
        action["value"] = value
    if url is not None:
        action["url"] = url
    payload = {
        "type": "block_actions",
        "user": _user(user_id, team_id),
        "api_app_id": "A0CAPTURE",
        "token": "legacy-verification-token",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": ephemeral,
            **({"thread_ts": thread_ts} if thread_ts else {}),
        },
        "trigger_id": "1337.42.abcdef",
        "team": {"id": team_id, "domain": "acme"},
        "channel": {"id": channel_id, "name": "ops"},
        "response_url": response_url,
        "actions": [action],
    }
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


def shortcut_body(
    message: Mapping[str, Any],
    *,
    response_url: str | None,
    user_id: str = "U0ALICE",
    channel_id: str = "C0OPS",
    team_id: str = TEAM_ID,
    callback_id: str = "check_capture_status",
) -> str:
    """A message shortcut (``message_action``) as Slack posts it."""
    payload: dict[str, Any] = {
        "type": "message_action",
        "callback_id": callback_id,
        "trigger_id": "1337.42.abcdef",
        "team": {"id": team_id, "domain": "acme"},
        "channel": {"id": channel_id, "name": "ops"},
        "user": _user(user_id, team_id),
        "message_ts": "1700000000.000100",
        "message": dict(message),
        "action_ts": "1700000001.000100",
        "token": "legacy-verification-token",
    }
    if response_url is not None:
        payload["response_url"] = response_url
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


def event_body(event: Mapping[str, Any], *, team_id: str = TEAM_ID) -> str:
    """An Events API callback as Slack posts it (JSON)."""
    return json.dumps(
        {
            "token": "legacy-verification-token",
            "team_id": team_id,
            "api_app_id": "A0CAPTURE",
            "event": dict(event),
            "type": "event_callback",
            "event_id": "Ev0HOME",
            "event_time": 1700000000,
            "authorizations": [{"team_id": team_id, "user_id": BOT_USER_ID, "is_bot": True}],
        }
    )
