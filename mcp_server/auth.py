"""Static bearer tokens for the HTTP transport (``MCP_AUTH_TOKENS``).

A plain ASGI middleware in front of the whole app: every HTTP request except the open
paths (the probes ``/healthz`` and ``/readyz``, and ``/metrics``) must carry
``Authorization: Bearer <token>`` with one of the configured tokens, else it gets 401
before the MCP transport sees it. Tokens are compared with
``hmac.compare_digest`` against every configured token, so the time taken does not reveal
which token (or how much of one) matched.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Collection, Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["MIN_TOKEN_CHARS", "BearerTokenAuth", "check_tokens"]

#: the shortest token accepted (a guessable token is no protection)
MIN_TOKEN_CHARS = 16
_REALM = 'Bearer realm="capture-status"'


def check_tokens(tokens: Iterable[str]) -> list[str]:
    """The problems with ``tokens`` as ``MCP_AUTH_TOKENS``, as sentences (empty when fine)."""
    listed = list(tokens)
    if not listed:
        return [
            "MCP_AUTH_TOKENS is empty, and the HTTP transport never runs without "
            "authentication. Set MCP_AUTH_TOKENS to one or more comma-separated random "
            'tokens (e.g. python -c "import secrets; print(secrets.token_urlsafe(32))"), '
            "or use the stdio transport."
        ]
    short = sum(len(token) < MIN_TOKEN_CHARS for token in listed)
    if short:
        return [
            f"MCP_AUTH_TOKENS has {short} token(s) shorter than {MIN_TOKEN_CHARS} characters; "
            "use long random tokens (e.g. secrets.token_urlsafe(32))."
        ]
    return []


class BearerTokenAuth:
    """Refuses HTTP requests without a valid bearer token (401).

    Args:
        app: the app to protect.
        tokens: the accepted tokens (at least one).
        open_paths: paths served without a token (the probes and ``/metrics`` only).
    """

    def __init__(self, app: ASGIApp, *, tokens: Iterable[str], open_paths: Collection[str]) -> None:
        self._app = app
        self._tokens = [token.encode() for token in tokens]
        if not self._tokens:
            raise ValueError("at least one token is required")
        self._open_paths = frozenset(open_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" or (
            scope["type"] == "http" and scope["path"] in self._open_paths
        ):
            await self._app(scope, receive, send)
            return
        presented = _bearer_token(scope)
        if presented is not None and self._accepts(presented):
            await self._app(scope, receive, send)
            return
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1008})
            return
        await _refuse(send, missing=presented is None)

    def _accepts(self, presented: bytes) -> bool:
        matched = False
        for token in self._tokens:
            # every token is compared, whatever matched before
            matched |= hmac.compare_digest(presented, token)
        return matched


def _bearer_token(scope: Scope) -> bytes | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = bytes(value).partition(b" ")
            if scheme.lower() == b"bearer" and token.strip():
                return token.strip()
            return None
    return None


async def _refuse(send: Send, *, missing: bool) -> None:
    if missing:
        challenge = _REALM
        body = {
            "error": "unauthorized",
            "error_description": "Send Authorization: Bearer <token> with a token from "
            "MCP_AUTH_TOKENS.",
        }
    else:
        challenge = f'{_REALM}, error="invalid_token"'
        body = {
            "error": "invalid_token",
            "error_description": "The bearer token is not one of MCP_AUTH_TOKENS.",
        }
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"www-authenticate", challenge.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
