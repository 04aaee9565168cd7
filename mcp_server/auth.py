"""Static bearer tokens for the HTTP transport (``MCP_AUTH_TOKENS``).

A plain ASGI middleware in front of the whole app: every HTTP request except the open
paths (the probes ``/healthz`` and ``/readyz``, and ``/metrics``) must carry
``Authorization: Bearer <token>`` with one of the configured tokens, else it gets 401
before the MCP transport sees it. Tokens are compared with
``hmac.compare_digest`` against every configured token, so the time taken does not reveal
which token (or how much of one) matched.

Each token has a name and reaches some LeadSquared accounts (``[mcp_tokens.NAME]`` of the
accounts file; the tokens of ``MCP_AUTH_TOKENS`` are ``token-1``, ``token-2``, ... and reach
every account): the middleware puts the grant of the token presented in the request's scope,
where the tools read who is asking (:func:`requester_of`). The name, never the token, is the
principal the budget scheduler shares calls between (``mcp:<name>``).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from starlette.types import ASGIApp, Receive, Scope, Send

from shared import ConfigurationError, Settings, load_accounts

__all__ = [
    "LOCAL_REQUESTER",
    "MIN_TOKEN_CHARS",
    "BearerTokenAuth",
    "Requester",
    "TokenGrant",
    "check_tokens",
    "http_tokens",
    "requester_of",
]

#: the shortest token accepted (a guessable token is no protection)
MIN_TOKEN_CHARS = 16
_REALM = 'Bearer realm="capture-status"'
#: where the middleware leaves the grant of the request's token
_SCOPE_KEY = "capture_status.grant"


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """What one bearer token stands for.

    Attributes:
        name: its name in the configuration (``[mcp_tokens.NAME]``, or ``token-N`` for the
            N-th token of ``MCP_AUTH_TOKENS``): not a secret, safe to log.
        accounts: the LeadSquared accounts it may reach.
    """

    name: str
    accounts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Requester:
    """Who is asking, as the tools see it.

    Attributes:
        principal: the name the budget scheduler shares calls and waits between:
            ``mcp:<token name>`` over HTTP, ``mcp:stdio`` over stdio (and in process).
        allowed: the accounts the caller may reach (``None``: every account).
    """

    principal: str
    allowed: tuple[str, ...] | None


#: stdio or in process: the local operator, reaching every account
LOCAL_REQUESTER = Requester(principal="mcp:stdio", allowed=None)
#: an HTTP request that did not pass through :class:`BearerTokenAuth`: it reaches nothing
_NOBODY = Requester(principal="mcp:unauthenticated", allowed=())


def requester_of(scope: Mapping[str, Any] | None) -> Requester:
    """Who sent the request of ``scope`` (the ASGI scope of an HTTP request).

    :data:`LOCAL_REQUESTER` only without an HTTP request (stdio, or in process). An HTTP
    request that did not pass through :class:`BearerTokenAuth` reaches no account (it fails
    closed).
    """
    if scope is None:
        return LOCAL_REQUESTER
    state: object = scope.get("state")
    grant = cast("dict[str, object]", state).get(_SCOPE_KEY) if isinstance(state, dict) else None
    if isinstance(grant, TokenGrant):
        return Requester(principal=f"mcp:{grant.name}", allowed=grant.accounts)
    return _NOBODY


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


def http_tokens(settings: Settings) -> dict[str, TokenGrant]:
    """Every bearer token the HTTP transport accepts, with its name and the accounts it reaches.

    ``MCP_AUTH_TOKENS`` reach every account; ``[mcp_tokens.*]`` of the accounts file reach
    the accounts they list. A token configured twice keeps its first name and reaches the
    accounts of both entries.

    Raises:
        ConfigurationError: no token at all, a short token, or a bad accounts file.
    """
    accounts = load_accounts(settings, with_tokens=True)
    tokens: dict[str, TokenGrant] = {}
    for entry in accounts.mcp_tokens:
        secret = entry.token.get_secret_value()
        known = tokens.get(secret)
        if known is None:
            tokens[secret] = TokenGrant(entry.name, tuple(dict.fromkeys(entry.accounts)))
        else:
            reach = tuple(dict.fromkeys([*known.accounts, *entry.accounts]))
            tokens[secret] = TokenGrant(known.name, reach)
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
        tokens: the accepted tokens (at least one), each with its grant (name, accounts).
        open_paths: paths served without a token (the probes and ``/metrics`` only).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        tokens: Mapping[str, TokenGrant],
        open_paths: Collection[str],
    ) -> None:
        self._app = app
        self._tokens = [(token.encode(), grant) for token, grant in tokens.items()]
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
        grant = self._grant(presented) if presented is not None else None
        if grant is not None:
            state = scope.setdefault("state", {})
            state[_SCOPE_KEY] = grant
            await self._app(scope, receive, send)
            return
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1008})
            return
        await _refuse(send, missing=presented is None)

    def _grant(self, presented: bytes) -> TokenGrant | None:
        """The grant of the token presented, or ``None`` when it is not one of ours."""
        found: TokenGrant | None = None
        for token, grant in self._tokens:
            # every token is compared, whatever matched before
            if hmac.compare_digest(presented, token):
                found = grant
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
