"""LeadSquared accounts behind one deployment, and which one answers a request.

Without ``LSQ_ACCOUNTS_FILE`` the v1 variables (``LSQ_API_KEY``, ``LSQ_REGION`` or
``LSQ_ASYNC_BASE_URL``, ``LSQ_APP_BASE_URL``) form the one account ``default``, so every
v1 deployment keeps working. With it, a TOML file names several accounts, routes Slack
workspaces and channels to them, and limits MCP tokens to some of them (docs/accounts.md)::

    [accounts.india]
    region = "in21"
    api_key_env = "LSQ_API_KEY_INDIA"

    [routing]
    default = "india"
    slack_channels = { C0US000002 = "us" }

Keys never live in the file: it names the environment variable holding each key. Every
problem of the file (an unknown account, an unset variable, a route to a missing account)
is reported at start, all at once, as one :class:`~shared.errors.ConfigurationError`.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from shared.errors import ConfigurationError, UnknownAccountError
from shared.families import DEFAULT_FAMILIES, FAMILY_NAMES
from shared.lsq.hosts import REGION_HOSTS, check_base_url, normalise_region, region_host
from shared.settings import Settings

__all__ = [
    "DEFAULT_ACCOUNT",
    "DEMO_ACCOUNTS",
    "DEMO_BASE_URL",
    "Account",
    "Accounts",
    "McpToken",
    "check_accounts",
    "demo_accounts",
    "load_accounts",
    "secret_values",
]

#: the name of the account that v1's ``LSQ_*`` variables describe
DEFAULT_ACCOUNT = "default"
#: the base URL the in-process simulator answers on (never resolved on a network)
DEMO_BASE_URL = "http://simulator.demo"
#: the accounts of the demo, by name and simulator key: two, so routing is shown for real
DEMO_ACCOUNTS: dict[str, str] = {DEFAULT_ACCOUNT: "demo-key", "us": "demo-key-us"}
#: account and token names: short, readable in chat, safe in button values and Redis keys
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
#: the variables the file names: upper case, as environment variables are by convention (a
#: pasted key rarely looks like one, and is then never repeated in a message)
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,63}$")


@dataclass(frozen=True, slots=True)
class Account:
    """One LeadSquared account: where its async API is, its key, its web app, its families.

    Attributes:
        name: how people and button values name it (``india``).
        base_url: the async API host (``https://asyncapi-in21.leadsquared.com``).
        api_key: its ``x-api-key``.
        app_base_url: its web app, for "Open in LeadSquared" links, or ``None``.
        families: the API families enabled for it, in the order an unknown id is tried.
        region: the region it was configured by, or ``None`` for an explicit base URL.
        demo: it is served by the built-in simulator.
    """

    name: str
    base_url: str
    api_key: SecretStr = field(repr=False)
    app_base_url: str | None = None
    families: tuple[str, ...] = DEFAULT_FAMILIES
    region: str | None = None
    demo: bool = False

    @property
    def label(self) -> str:
        """Where its answers come from, for people: ``LeadSquared region sg`` or a host."""
        if self.demo:
            return "the LeadSquared simulator (demo)"
        if self.region is not None:
            return f"LeadSquared region {self.region}"
        host = _hostname(self.base_url)
        return f"LeadSquared at {host}"


@dataclass(frozen=True, slots=True)
class McpToken:
    """An MCP bearer token and the accounts a client holding it may reach."""

    name: str
    token: SecretStr = field(repr=False)
    accounts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Accounts:
    """Every account of this deployment and the routes to them.

    Attributes:
        by_name: the accounts, in the order the configuration gives them.
        default: the account used when no route decides.
        slack_teams: Slack workspace (team or Enterprise Grid org id) → account name.
        slack_channels: Slack channel → account name (wins over the workspace).
        mcp_tokens: MCP bearer tokens and what each may reach (empty: none configured here).
    """

    by_name: Mapping[str, Account]
    default: str
    slack_teams: Mapping[str, str] = field(default_factory=dict[str, str])
    slack_channels: Mapping[str, str] = field(default_factory=dict[str, str])
    mcp_tokens: tuple[McpToken, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """Every account name, in configuration order."""
        return tuple(self.by_name)

    @property
    def demo(self) -> bool:
        """Every account is served by the simulator."""
        return all(account.demo for account in self.by_name.values())

    def get(self, name: str | None = None) -> Account:
        """The account called ``name``, or the default one.

        Raises:
            UnknownAccountError: no account has that name (the message lists those that do).
        """
        if name is None:
            return self.by_name[self.default]
        key = name.strip().lower()
        account = self.by_name.get(key)
        if account is None:
            raise UnknownAccountError.unknown(name, self.names)
        return account

    def for_slack(self, *, team_id: str | None, channel_id: str | None) -> Account:
        """The account that answers in ``channel_id`` of workspace ``team_id``.

        The channel's route wins, then the workspace's, then the default account.
        """
        if channel_id and channel_id in self.slack_channels:
            return self.by_name[self.slack_channels[channel_id]]
        if team_id and team_id in self.slack_teams:
            return self.by_name[self.slack_teams[team_id]]
        return self.by_name[self.default]

    def reachable_from_slack(self, team_id: str | None) -> tuple[Account, ...]:
        """The accounts a workspace may see: its own (else the default) and channel routes.

        Channel ids do not say which workspace they belong to, so every channel route counts.
        """
        first = self.slack_teams.get(team_id or "", self.default)
        names = dict.fromkeys([first, *self.slack_channels.values()])
        return tuple(self.by_name[name] for name in names)

    def secret_values(self) -> list[str]:
        """Every key and token these accounts hold, for log masking."""
        values = [account.api_key for account in self.by_name.values()]
        values += [entry.token for entry in self.mcp_tokens]
        return [value.get_secret_value() for value in values]


# --- loading ------------------------------------------------------------------------------


class _AccountEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    region: str | None = None
    base_url: str | None = None
    api_key_env: str
    app_base_url: str | None = None
    families: tuple[str, ...] | None = None


class _RoutingEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    default: str | None = None
    slack_teams: dict[str, str] = Field(default_factory=dict[str, str])
    slack_channels: dict[str, str] = Field(default_factory=dict[str, str])


class _TokenEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    token_env: str
    accounts: tuple[str, ...] = Field(min_length=1)


class _AccountsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    accounts: dict[str, _AccountEntry] = Field(min_length=1)
    routing: _RoutingEntry = Field(default_factory=_RoutingEntry)
    mcp_tokens: dict[str, _TokenEntry] = Field(default_factory=dict[str, _TokenEntry])


def load_accounts(
    settings: Settings,
    *,
    environ: Mapping[str, str] | None = None,
    with_tokens: bool = False,
) -> Accounts:
    """The accounts of this deployment: ``LSQ_ACCOUNTS_FILE``, else v1's ``LSQ_*`` variables.

    Without either (no key, no file) they are :data:`DEMO_ACCOUNTS` on the simulator.

    Args:
        settings: the process settings.
        environ: where the file's ``api_key_env``/``token_env`` variables are read
            (default: the process environment over the ``.env`` file, as for settings).
        with_tokens: read the file's ``[mcp_tokens]`` too (only the MCP server over HTTP
            needs them: other entry points neither check nor hold those secrets).

    Raises:
        ConfigurationError: one message naming every problem.
    """
    env = _environment() if environ is None else environ
    if settings.lsq_accounts_file is not None:
        path = Path(settings.lsq_accounts_file)
        return _accounts_from_file(path, settings, env, with_tokens=with_tokens)
    if settings.lsq_api_key is None:
        accounts = demo_accounts(settings, DEMO_BASE_URL, DEMO_ACCOUNTS)
        return Accounts(
            by_name=accounts.by_name,
            default=accounts.default,
            mcp_tokens=_v1_tokens(settings, accounts.names),
        )
    return _accounts_from_settings(settings)


def _environment() -> dict[str, str]:
    """The process environment over the ``.env`` file: where settings come from too."""
    from dotenv import dotenv_values

    values = {k: v for k, v in dotenv_values(".env").items() if v is not None}
    return {**values, **os.environ}


def secret_values(settings: Settings, *, environ: Mapping[str, str] | None = None) -> list[str]:
    """Every secret the accounts file points at (keys and tokens), for log masking.

    Tolerant on purpose: it runs before the file is checked, so that even the messages of a
    broken start-up can never show a key the file names.
    """
    if settings.lsq_accounts_file is None:
        return []
    try:
        raw = tomllib.loads(Path(settings.lsq_accounts_file).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return []
    env = _environment() if environ is None else environ
    names: list[str] = []
    for table, key in (("accounts", "api_key_env"), ("mcp_tokens", "token_env")):
        section: object = raw.get(table)
        if isinstance(section, dict):
            for entry in cast("dict[str, object]", section).values():
                if isinstance(entry, dict):
                    name = cast("dict[str, object]", entry).get(key)
                    if isinstance(name, str):
                        names.append(name)
    return [env[name] for name in names if env.get(name)]


def check_accounts(settings: Settings) -> None:
    """Start-up check: the accounts load (every problem named at once).

    Raises:
        ConfigurationError: the accounts file names an unknown account, an unset key, ...
    """
    load_accounts(settings)


def demo_accounts(settings: Settings, base_url: str, keys: Mapping[str, str]) -> Accounts:
    """Accounts served by the simulator at ``base_url``: one per (name, key) in ``keys``."""
    by_name = {
        name: Account(
            name=name,
            base_url=base_url,
            api_key=SecretStr(key),
            app_base_url=settings.lsq_app_base_url,
            families=settings.lsq_families,
            demo=True,
        )
        for name, key in keys.items()
    }
    return Accounts(by_name=by_name, default=next(iter(by_name)))


def _accounts_from_settings(settings: Settings) -> Accounts:
    assert settings.lsq_api_key is not None
    account = Account(
        name=DEFAULT_ACCOUNT,
        base_url=settings.async_base_url,
        api_key=settings.lsq_api_key,
        app_base_url=settings.lsq_app_base_url,
        families=settings.lsq_families,
        region=None if settings.lsq_async_base_url else settings.lsq_region,
        demo=settings.demo_mode,
    )
    tokens = _v1_tokens(settings, (DEFAULT_ACCOUNT,))
    return Accounts(by_name={DEFAULT_ACCOUNT: account}, default=DEFAULT_ACCOUNT, mcp_tokens=tokens)


def _v1_tokens(settings: Settings, accounts: tuple[str, ...]) -> tuple[McpToken, ...]:
    """``MCP_AUTH_TOKENS``: each reaches every account (v1 had only one)."""
    return tuple(
        McpToken(name=f"token-{number}", token=token, accounts=accounts)
        for number, token in enumerate(settings.mcp_auth_tokens, start=1)
    )


def _accounts_from_file(
    path: Path, settings: Settings, env: Mapping[str, str], *, with_tokens: bool
) -> Accounts:
    where = f"LSQ_ACCOUNTS_FILE ({path})"
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _problems(where, ["the file does not exist"]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise _problems(where, [f"the file cannot be read ({type(error).__name__})"]) from None
    except tomllib.TOMLDecodeError as error:
        raise _problems(where, [f"not valid TOML: {error}"]) from None
    try:
        parsed = _AccountsFile.model_validate(raw)
    except ValidationError as error:
        raise _problems(where, list(_validation_problems(error))) from None

    problems: list[str] = []
    by_name: dict[str, Account] = {}
    for name, entry in parsed.accounts.items():
        account = _account(name, entry, settings, env, problems)
        if account is not None:
            by_name[name] = account
    known = set(parsed.accounts)

    def route(what: str, target: str) -> None:
        if target not in known:
            problems.append(
                f"{what} routes to account {target!r}, which the file does not define "
                f"(it defines: {', '.join(sorted(known))})"
            )

    routing = parsed.routing
    default = routing.default or next(iter(parsed.accounts))
    route("[routing] default", default)
    for team, target in routing.slack_teams.items():
        route(f"[routing] slack_teams.{team}", target)
    for channel, target in routing.slack_channels.items():
        route(f"[routing] slack_channels.{channel}", target)

    tokens: list[McpToken] = []
    for name, token_entry in parsed.mcp_tokens.items() if with_tokens else ():
        token = _token(name, token_entry, env, known, problems)
        if token is not None:
            tokens.append(token)
    if problems:
        raise _problems(where, problems)
    if settings.mcp_auth_tokens:
        # v1's tokens keep working next to the file's: each reaches every account
        tokens.extend(_v1_tokens(settings, tuple(by_name)))
    return Accounts(
        by_name=by_name,
        default=default,
        slack_teams=dict(routing.slack_teams),
        slack_channels=dict(routing.slack_channels),
        mcp_tokens=tuple(tokens),
    )


def _account(
    name: str,
    entry: _AccountEntry,
    settings: Settings,
    env: Mapping[str, str],
    problems: list[str],
) -> Account | None:
    at = f"[accounts.{name}]"
    count = len(problems)
    if not _NAME.match(name):
        problems.append(
            f"{at}: account names use lower-case letters, digits, '-' and '_' (at most 32)"
        )
    key = _secret_from_env(f"{at} api_key_env", entry.api_key_env, env, problems)
    region: str | None = None
    base_url: str | None = None
    if entry.base_url is not None and entry.region is not None:
        problems.append(f"{at}: give region or base_url, not both")
    elif entry.base_url is not None:
        base_url = _checked(f"{at} base_url", entry.base_url, problems, carries="its API key")
    else:
        region = normalise_region(entry.region or settings.lsq_region)
        base_url = region_host(region)
        if base_url is None:
            problems.append(
                f"{at} region: {region!r} has no documented async host; use one of "
                f"{', '.join(REGION_HOSTS)} or give base_url"
            )
    app_base_url = None
    if entry.app_base_url is not None:
        app_base_url = _checked(f"{at} app_base_url", entry.app_base_url, problems, carries=None)
    families = entry.families if entry.families is not None else settings.lsq_families
    unknown = [family for family in families if family not in FAMILY_NAMES]
    if unknown:
        problems.append(
            f"{at} families: unknown {', '.join(map(repr, unknown))}; the families are "
            f"{', '.join(FAMILY_NAMES)}"
        )
    if len(problems) > count or key is None or base_url is None:
        return None
    return Account(
        name=name,
        base_url=base_url,
        api_key=key,
        app_base_url=app_base_url,
        families=tuple(families),
        region=region,
        demo=settings.lsq_demo,
    )


def _token(
    name: str,
    entry: _TokenEntry,
    env: Mapping[str, str],
    known: Iterable[str],
    problems: list[str],
) -> McpToken | None:
    at = f"[mcp_tokens.{name}]"
    count = len(problems)
    known = set(known)
    token = _secret_from_env(f"{at} token_env", entry.token_env, env, problems)
    if token is not None and len(token.get_secret_value()) < 16:
        problems.append(f"{at} token_env: the token in {entry.token_env} is shorter than 16")
    problems.extend(
        f"{at} accounts: {target!r} is not an account of the file "
        f"(it defines: {', '.join(sorted(known))})"
        for target in entry.accounts
        if target not in known
    )
    if len(problems) > count or token is None:
        return None
    return McpToken(name=name, token=token, accounts=tuple(dict.fromkeys(entry.accounts)))


def _secret_from_env(
    what: str, variable: str, env: Mapping[str, str], problems: list[str]
) -> SecretStr | None:
    if not _ENV_NAME.match(variable):
        # never repeated: a key pasted here instead of its variable's name must not be logged
        problems.append(
            f"{what}: not an environment variable name (upper-case letters, digits and '_'). "
            "Keys never go in the file: name the variable that holds the key"
        )
        return None
    value = env.get(variable, "").strip()
    if not value:
        problems.append(f"{what}: the environment variable {variable} is not set")
        return None
    if not value.isascii() or any(ch.isspace() for ch in value):
        problems.append(f"{what}: {variable} must be ASCII without spaces")
        return None
    return SecretStr(value)


def _checked(what: str, url: str, problems: list[str], *, carries: str | None) -> str | None:
    try:
        return check_base_url(url, carries=carries)
    except ValueError as error:
        problems.append(f"{what}: {error}")
        return None


def _validation_problems(error: ValidationError) -> Iterable[str]:
    for item in error.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in item["loc"])
        yield f"{where}: {item['msg']}"


def _problems(where: str, problems: list[str]) -> ConfigurationError:
    return ConfigurationError(
        f"capture-status cannot start; fix {where}:\n  - " + "\n  - ".join(problems)
    )


def _hostname(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).hostname or "a custom host"
