"""The App Home tab: how to use the app, the configuration in effect, the queue health.

Pure functions like :mod:`bot.blocks`. The configuration shown is descriptive only (region,
budget, limits, masking, who may use it): no secret, no token and no allowlisted id ever
appears here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bot.access import Allowlist
from bot.actions import COMMAND
from bot.blocks import health_blocks, usage_text
from bot.kit import (
    MAX_HOME_BLOCKS,
    Block,
    RenderContext,
    checked_line,
    context,
    demo_note,
    divider,
    header,
    section,
)
from bot.mrkdwn import escape_cut
from shared import Accounts, QueueHealth, Settings

__all__ = ["Configuration", "home_view", "refused_home_view"]


@dataclass(frozen=True, slots=True)
class Configuration:
    """The settings in effect, in words (never secrets)."""

    upstream: str
    demo: bool
    budget: str
    max_ids: int
    mask_pii: bool
    links: str
    access: str
    connection: str

    @classmethod
    def from_settings(
        cls, settings: Settings, accounts: Accounts, *, connection: str
    ) -> Configuration:
        """Describe ``settings`` and the ``accounts`` answers come from, for the Home tab.

        Args:
            settings: the process settings.
            accounts: the LeadSquared accounts of this deployment.
            connection: how Slack reaches the app (``Socket Mode`` or ``HTTP``).
        """
        every = list(accounts.by_name.values())
        several = len(every) > 1
        headroom = settings.lsq_rate_limit_calls - settings.rate_budget_calls
        budget = (
            f"{settings.rate_budget_calls} calls per {settings.lsq_rate_limit_seconds} s"
            + (" for each account" if several else "")
            + f" (the account allows {settings.lsq_rate_limit_calls}; {headroom} left for "
            "other integrations)"
        )
        with_links = [account for account in every if account.app_base_url]
        if not with_links:
            links = "off (an admin can set LSQ_APP_BASE_URL)"
        else:
            hosts = ", ".join(
                (f"{a.name}: " if several else "") + _host(a.app_base_url or "") for a in with_links
            )
            links = f"on ({hosts})"
        upstream = "; ".join(
            (f"{account.name}: " if several else "") + account.label for account in every
        )
        return cls(
            upstream=upstream,
            demo=accounts.demo,
            budget=budget,
            max_ids=settings.slack_max_ids,
            mask_pii=settings.lsq_mask_pii,
            links=links,
            access=Allowlist.from_settings(settings).describe(),
            connection=connection,
        )


def _host(url: str) -> str:
    return urlsplit(url).hostname or url


def home_view(
    config: Configuration, ctx: RenderContext, *, healths: Sequence[QueueHealth] = ()
) -> dict[str, Any]:
    """The Home tab for someone allowed to use the app.

    Args:
        config: the configuration in effect.
        ctx: when the queues were checked.
        healths: the queue of each account this workspace reaches (figures or why not).
    """
    n = ctx.nonce
    blocks: list[Block] = [header(f"{n}-title", "Capture Status")]
    if config.demo:
        blocks.append(context(f"{n}-demo", [demo_note()]))
    blocks += [
        section(
            f"{n}-intro",
            "Explains LeadSquared *Capture Opportunities* requests sent through the async API: "
            "whether each was created, is a duplicate, failed or is still queued, why, and what "
            "to do next."
            + (" Personal data from the requests is masked." if config.mask_pii else ""),
        ),
        section(f"{n}-usage", usage_text(COMMAND, max_ids=config.max_ids)),
        divider(f"{n}-div1"),
        header(f"{n}-health-title", "Queue health"),
    ]
    several = len(healths) > 1
    for index, health in enumerate(healths):
        blocks.extend(health_blocks(health, f"{n}-health-{index}", named=several))
    blocks.append(context(f"{n}-health-ctx", [checked_line(ctx)]))
    blocks += [
        divider(f"{n}-div2"),
        header(f"{n}-config-title", "Configuration in effect"),
        section(
            f"{n}-config",
            fields=[
                f"*Answers from*\n{escape_cut(_sources(healths) or config.upstream, 300)}",
                f"*Rate budget*\n{escape_cut(config.budget, 300)}",
                f"*Ids per command*\nup to {config.max_ids} as cards; more: a triage job",
                f"*Personal data*\n{'masked' if config.mask_pii else 'shown (masking is off)'}",
                f"*Open in LeadSquared links*\n{escape_cut(config.links, 300)}",
                f"*Who can use it*\n{escape_cut(config.access, 300)}",
                f"*Connection to Slack*\n{escape_cut(config.connection, 100)}",
            ],
        ),
        context(
            f"{n}-config-ctx",
            ["Settings are read when the app starts; its admins change them in its environment."],
        ),
    ]
    return {"type": "home", "blocks": blocks[:MAX_HOME_BLOCKS]}


def _sources(healths: Sequence[QueueHealth]) -> str:
    """Where the reachable accounts' answers come from (this workspace's, not every one)."""
    if len(healths) == 1:
        return healths[0].source
    return "; ".join(f"{health.account}: {health.source}" for health in healths)


def refused_home_view(nonce: str) -> dict[str, Any]:
    """The Home tab for someone the allowlists leave out (no configuration, no queue data)."""
    return {
        "type": "home",
        "blocks": [
            header(f"{nonce}-title", "Capture Status"),
            section(
                f"{nonce}-refused",
                ":no_entry: *Capture Status isn't enabled for you here.*\n"
                "The admins of this app limited it to certain workspaces, channels or people. "
                "Ask them if you need it.",
            ),
        ],
    }
