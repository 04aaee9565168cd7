"""The small parts of an explanation: a labelled fact and a link into the web app.

Kept apart from the engine (and its imports) so that a front door can describe its output
with them at start-up without loading the explanation engine.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["Fact", "Link"]


class Fact(BaseModel):
    """One labelled value, e.g. ``Lead id (RelatedProspectId)``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    label: str
    value: str


class Link(BaseModel):
    """A link into the LeadSquared web app."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    label: str
    url: str
