"""Who may use the app, and where: the optional ``SLACK_ALLOWED_*`` allowlists.

An empty list allows everyone, so a workspace install works without configuration. A
refused person gets a polite ephemeral answer and no lookup is made.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from shared import Settings

__all__ = ["Allowlist"]


@dataclass(frozen=True, slots=True)
class Allowlist:
    """Workspaces (team or Enterprise Grid org ids), channels and users allowed to use the app."""

    team_ids: frozenset[str] = frozenset()
    channel_ids: frozenset[str] = frozenset()
    user_ids: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings: Settings) -> Allowlist:
        """The allowlists of ``settings`` (``SLACK_ALLOWED_TEAM_IDS`` and friends)."""
        return cls(
            team_ids=_ids(settings.slack_allowed_team_ids),
            channel_ids=_ids(settings.slack_allowed_channel_ids),
            user_ids=_ids(settings.slack_allowed_user_ids),
        )

    @property
    def restricted(self) -> bool:
        """True when any allowlist is set."""
        return bool(self.team_ids or self.channel_ids or self.user_ids)

    def allows(
        self,
        *,
        team_id: str | None,
        enterprise_id: str | None = None,
        user_id: str | None,
        channel_id: str | None = None,
        check_channel: bool = True,
    ) -> bool:
        """Whether this person, in this workspace and channel, may use the app.

        Args:
            team_id: the workspace the request came from.
            enterprise_id: its Enterprise Grid org, which the team allowlist may name instead.
            user_id: who asked.
            channel_id: where they asked.
            check_channel: False for surfaces without a channel (the App Home tab).
        """
        if self.team_ids and not ({team_id, enterprise_id} & self.team_ids):
            return False
        if self.user_ids and user_id not in self.user_ids:
            return False
        return not (check_channel and self.channel_ids and channel_id not in self.channel_ids)

    def describe(self) -> str:
        """Who may use the app, for the Home tab (counts only, never the ids)."""
        if not self.restricted:
            return "everyone in the workspace"
        parts: list[str] = []
        for count, noun in (
            (len(self.team_ids), "workspace"),
            (len(self.channel_ids), "channel"),
            (len(self.user_ids), "person"),
        ):
            if count:
                word = noun if count == 1 else ("people" if noun == "person" else noun + "s")
                parts.append(f"{count} {word}")
        return "restricted to " + ", ".join(parts)


def _ids(values: Iterable[str]) -> frozenset[str]:
    return frozenset(v.strip() for v in values if v.strip())
