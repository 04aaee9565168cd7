"""Static bearer tokens for the HTTP transport (``MCP_AUTH_TOKENS``).

A plain ASGI middleware in front of the whole app: every HTTP request except the open
paths (the probes ``/healthz`` and ``/readyz``, and ``/metrics``) must carry
``Authorization: Bearer <token>`` with one of the configured tokens, else it gets 401
before the MCP transport sees it. Tokens are compared with
``hmac.compare_digest`` against every configured token, so the time taken does not reveal
which token (or how much of one) matched.

Each token reaches some LeadSquared accounts (``[mcp_tokens.*]`` of the accounts file; a
token of ``MCP_AUTH_TOKENS`` reaches every account): the middleware puts the accounts of
the token presented in the request's scope, where the tools read them
(:func:`accounts_of_request`).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Collection, Iterable, Mapping
from typing import Any, cast

from starlette.types import ASGIApp, Receive, Scope, Send

from shared import ConfigurationError, Settings, load_accounts

__all__ = [
    "MIN_TOKEN_CHARS",
    "BearerTokenAuth",
    "accounts_of_request",
    "check_tokens",
    "http_tokens",
]

#: the shortest token accepted (a guessable token is no protection)
MIN_TOKEN_CHARS = 16
_REALM = 'Bearer realm="capture-status"'
#: where the middleware leaves the accounts the request's token may reach
_SCOPE_KEY = "capture_status.accounts"


def accounts_of_request(scope: Mapping[str, Any] | None) -> tuple[str, ...] | None:
    """The accounts the bearer token of this request may reach.

    ``None`` only without an HTTP request (stdio, or in process): the caller is the local
    operator and may reach every account. An HTTP request that did not pass through
    :class:`BearerTokenAuth` reaches none (it fails closed).
    """
    if scope is None:
        return None
    state = scope.get("state")
    accounts = cast("dict[str, Any]", state).get(_SCOPE_KEY) if isinstance(state, dict) else None
    if isinstance(accounts, tuple):
        return cast("tuple[str, ...]", accounts)
    return ()


def check_tokens(tokens: Iterable[str]) -> list[str]:
    """The problems with ``tokens`` as ``MCP_AUTH_TOKENS``, as sentences (empty when fine)."""
    listed = list(tokens)
    if not listed:
        return [
            "MCP_AUTH_TOKENS is empty, and the HTTP transport never runs without "
            "authentication. Set MCP_AUTH_TOKENS to one or more comma-separated random "
            'tokens (e.g. python -c "import secrets; print(secrets.token_urlsafe(32))"), '
            "or use the stdio transport. (Tokens limited to some accounts go in the accounts "
            "file, as [mcp_tokens.NAME].)"
        ]
    short = sum(len(token) < MIN_TOKEN_CHARS for token in listed)
    if short:
        return [
            f"MCP_AUTH_TOKENS has {short} token(s) shorter than {MIN_TOKEN_CHARS} characters; "
            "use long random tokens (e.g. secrets.token_urlsafe(32))."
        ]
    return []


def http_tokens(settings: Settings) -> dict[str, tuple[str, ...]]:
    """Every bearer token the HTTP transport accepts, with the accounts each may reach.

    ``MCP_AUTH_TOKENS`` reach every account; ``[mcp_tokens.*]`` of the accounts file reach
    the accounts they list.

    Raises:
        ConfigurationError: no token at all, a short token, or a bad accounts file.
    """
    accounts = load_accounts(settings, with_tokens=True)
    tokens: dict[str, tuple[str, ...]] = {}
    for entry in accounts.mcp_tokens:
        reach = tokens.get(entry.token.get_secret_value(), ())
        tokens[entry.token.get_secret_value()] = tuple(dict.fromkeys([*reach, *entry.accounts]))
    problems = check_tokens(tokens)
    if problems:
        raise ConfigurationError(
            "capture-status cannot serve MCP over HTTP:\n  - " + "\n  - ".join(problems)
        )
    return tokens


class BearerTokenAuth:
    """Refuses HTTP requests without a valid bearer token (401).

    Args:
        app: the app to protect.
        tokens: the accepted tokens (at least one), each with the accounts it may reach.
        open_paths: paths served without a token (the probes and ``/metrics`` only).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        tokens: Mapping[str, tuple[str, ...]],
        open_paths: Collection[str],
    ) -> None:
        self._app = app
        self._tokens = [(token.encode(), accounts) for token, accounts in tokens.items()]
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
        accounts = self._accounts(presented) if presented is not None else None
        if accounts is not None:
            state = scope.setdefault("state", {})
            state[_SCOPE_KEY] = accounts
            await self._app(scope, receive, send)
            return
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1008})
            return
        await _refuse(send, missing=presented is None)

    def _accounts(self, presented: bytes) -> tuple[str, ...] | None:
        """The accounts of the token presented, or ``None`` when it is not one of ours."""
        found: tuple[str, ...] | None = None
        for token, accounts in self._tokens:
            # every token is compared, whatever matched before
            if hmac.compare_digest(presented, token):
                found = accounts
        return found


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
            "MCP_AUTH_TOKENS or the accounts file's [mcp_tokens].",
        }
    else:
        challenge = f'{_REALM}, error="invalid_token"'
        body = {
            "error": "invalid_token",
            "error_description": "The bearer token is not one of MCP_AUTH_TOKENS or the "
            "accounts file's [mcp_tokens].",
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
