"""The catalogue of known LeadSquared application (MX) exceptions, statuses and outcomes.

LeadSquared publishes no complete list of exceptions; the six here are the ones seen in its
documentation and in public third-party code (docs/leadsquared.md, "MX exceptions").
Application errors (names starting with ``MX``) are never retried by the async pipeline.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from pydantic import BaseModel, ConfigDict

from shared.lsq.models import OutcomeKind, StatusKind

__all__ = [
    "KNOWN_EXCEPTIONS",
    "OUTCOME_MEANINGS",
    "RETRY_DELAYS_SECONDS",
    "RETRY_HORIZON_TEXT",
    "RETRY_SCHEDULE_TEXT",
    "STATUS_MEANINGS",
    "KnownException",
    "catalogue_markdown",
    "describe_exception",
    "find_exception",
]

#: LeadSquared's documented retry delays for system errors (at most 10 retries)
RETRY_DELAYS_SECONDS: tuple[int, ...] = (30, 120, 420, 900, 1800, 2700, 3600, 5400, 7200, 10800)
RETRY_SCHEDULE_TEXT = "30 s, 2 min, 7 min, 15 min, 30 min, 45 min, 60 min, 1.5 h, 2 h and 3 h"
RETRY_HORIZON_TEXT = "about 9 h 10 min"

_EXCEPTION_NAME = re.compile(r"(?<![A-Za-z0-9])MX[A-Za-z0-9_]{0,120}?Exception(?![A-Za-z0-9])")


class KnownException(BaseModel):
    """A LeadSquared application exception with a known cause and fix.

    Attributes:
        name: the exception name as LeadSquared spells it, e.g. ``MXInvalidInputException``.
        meaning: what it means, in one sentence.
        fix: what the person who submitted the request should do.
        retryable_by_leadsquared: whether LeadSquared's async pipeline retries it by itself.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    meaning: str
    fix: str
    retryable_by_leadsquared: bool = False


_CATALOGUE = (
    KnownException(
        name="MXInvalidActivityFieldsException",
        meaning="A mandatory opportunity field is missing or has an invalid value.",
        fix=(
            "Send the field named in the reason; check the mandatory fields of this "
            "opportunity type in LeadSquared's settings."
        ),
    ),
    KnownException(
        name="MXMandatoryAttributeMissingException",
        meaning="A required parameter of the request is missing.",
        fix="Add the missing parameter named in the reason to the request.",
    ),
    KnownException(
        name="MXInvalidInputException",
        meaning=(
            "The request holds invalid input, for example an invalid SearchBy value, or "
            "OverwriteFields and UpdateEmptyFields both set to true."
        ),
        fix="Fix the payload as the reason describes.",
    ),
    KnownException(
        name="MXDuplicateEntryException",
        meaning="A unique lead field in the request collides with another existing lead.",
        fix="Update the existing lead instead, or search by a different key (SearchBy).",
    ),
    KnownException(
        name="MXInvalidEntityException",
        meaning="The lead or other entity the request refers to does not exist.",
        fix="Check the ids in the request against LeadSquared.",
    ),
    KnownException(
        name="MXAPIRateLimitExceededException",
        meaning=(
            "LeadSquared throttled the account's API calls (it may report this inside an "
            "HTTP 200 answer instead of a 429)."
        ),
        fix=(
            "Back off, then resubmit; spread submissions out so that every integration on "
            "the account stays within its shared API budget."
        ),
    ),
)

#: the known exceptions, by name as LeadSquared spells it
KNOWN_EXCEPTIONS: Mapping[str, KnownException] = MappingProxyType(
    {known.name: known for known in _CATALOGUE}
)
_BY_LOWER_NAME = {known.name.lower(): known for known in _CATALOGUE}

#: what each status means, in this project's working model
STATUS_MEANINGS: Mapping[StatusKind, str] = MappingProxyType(
    {
        StatusKind.IN_QUEUE: ("Accepted and waiting in the queue; not processed yet. Not final."),
        StatusKind.SUCCESS: (
            "Processed. Message holds the response of the synchronous Capture Opportunities "
            "API (created opportunity, or the duplicate it matched). Final."
        ),
        StatusKind.FAILURE: (
            "Processing failed with an application error (usually an MX exception). "
            "LeadSquared does not retry it: fix the request and resubmit (a new RequestId). "
            "Final."
        ),
        StatusKind.ERROR: (
            "Processing hit a system error. The difference from FAILURE is not documented; "
            "most likely LeadSquared retries it (up to 10 times, after "
            f"{RETRY_SCHEDULE_TEXT}: {RETRY_HORIZON_TEXT} in all). Not final."
        ),
        StatusKind.UNKNOWN: (
            "A status this tool does not know. It is shown as LeadSquared sent it and not "
            "interpreted. Not final."
        ),
    }
)

#: what each outcome decoded from a Success Message means
OUTCOME_MEANINGS: Mapping[OutcomeKind, str] = MappingProxyType(
    {
        "created": (
            "A new opportunity was created (CreatedOpportunityId; PostDeDupActionPerformed "
            "1). The lead is RelatedProspectId; it may have been created too when no lead "
            "matched the search key."
        ),
        "duplicate": (
            "Duplicate detection matched an existing opportunity (ConflictedOpportunityId; "
            "PostDeDupActionPerformed 3): no new opportunity was created, and a "
            "duplicate-detected activity was posted on the lead."
        ),
        "failed": "The capture response carries an ExceptionType or ExceptionMessage.",
        "unknown": (
            "The response names neither a created nor a conflicting opportunity; it is shown "
            "raw and not interpreted."
        ),
    }
)


def find_exception(*texts: str | None) -> str | None:
    """Find the first ``MX...Exception`` name in free text.

    Args:
        *texts: texts to search in order, e.g. ExceptionType, ExceptionMessage and
            StatusReason; ``None`` entries are skipped.

    Returns:
        The first exception name found, as written in the text, or ``None``.
    """
    for text in texts:
        if not text:
            continue
        match = _EXCEPTION_NAME.search(text)
        if match:
            return match.group(0)
    return None


def describe_exception(name: str) -> KnownException | None:
    """Look up a known MX exception by name, ignoring case and surrounding whitespace.

    Args:
        name: an exception name such as ``MXInvalidInputException``.

    Returns:
        The catalogue entry, or ``None`` when the exception is not in the catalogue.
    """
    return _BY_LOWER_NAME.get(name.strip().lower())


def catalogue_markdown() -> str:
    """Render statuses, outcomes and the known MX exceptions as a markdown document.

    Returns:
        Markdown text for people and assistants reading the catalogue.
    """
    lines = [
        "# LeadSquared Capture Opportunities: statuses, outcomes and known exceptions",
        "",
        "## Statuses (TaskStatus.Status)",
        "",
    ]
    lines += [f"- **{kind.value}** {kind.symbol}: {text}" for kind, text in STATUS_MEANINGS.items()]
    lines += [
        "",
        "FAILURE versus ERROR is not documented by LeadSquared; the meanings above are this "
        "tool's working model and are phrased as likelihoods in explanations.",
        "",
        "## Outcomes of a Success (decoded from TaskStatus.Message)",
        "",
    ]
    lines += [f"- **{kind}**: {text}" for kind, text in OUTCOME_MEANINGS.items()]
    lines += [
        "",
        "PrimaryAction and SecondaryAction have no published meaning: they are shown as raw "
        "numbers only. IsUnique may read true even for a duplicate when no duplicate rules "
        "are configured.",
        "",
        "## Known MX exceptions",
        "",
        "LeadSquared publishes no complete list. Application errors (names starting with "
        "MX) are never retried by LeadSquared: fix the request and resubmit it, which gives "
        "a new RequestId. An exception not listed here is shown as LeadSquared sent it.",
        "",
    ]
    for known in _CATALOGUE:
        retried = "yes" if known.retryable_by_leadsquared else "no"
        lines += [
            f"### {known.name}",
            "",
            f"- Meaning: {known.meaning}",
            f"- Fix: {known.fix}",
            f"- Retried by LeadSquared: {retried}",
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"
