"""Finding LeadSquared RequestIds (GUIDs) in what people paste."""

from __future__ import annotations

import re

from shared.errors import InvalidRequestIdError

__all__ = ["REQUEST_ID_EXAMPLE", "extract_request_id", "find_request_ids"]

#: an id from LeadSquared's documentation, for usage messages
REQUEST_ID_EXAMPLE = "c1d867a7-a325-4b68-954f-237dcd3c15e1"

_GUID = re.compile(
    r"(?<![0-9a-fA-F])"
    r"\{?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\}?"
    r"(?![0-9a-fA-F])"
)
_SHOWN_INPUT_MAX = 60


def find_request_ids(text: str) -> list[str]:
    """Return every distinct GUID in ``text``, lower-cased, in order of first appearance.

    Works on bare ids, URLs such as ``...?RequestID=<guid>``, log lines and whole messages.
    """
    seen: dict[str, None] = {}
    for match in _GUID.finditer(text):
        seen.setdefault(match.group(1).lower(), None)
    return list(seen)


def extract_request_id(text: str) -> str:
    """Return the one RequestId contained in ``text``, normalised to lower case.

    Raises:
        InvalidRequestIdError: ``text`` holds no GUID, or more than one different GUID.
    """
    found = find_request_ids(text)
    if len(found) == 1:
        return found[0]
    shown = text.strip()
    if len(shown) > _SHOWN_INPUT_MAX:
        shown = shown[: _SHOWN_INPUT_MAX - 1] + "…"
    if not found:
        raise InvalidRequestIdError(
            f"{shown!r} is not a LeadSquared RequestId. A RequestId is a GUID like "
            f"{REQUEST_ID_EXAMPLE} (the 'RequestID' the async API returned when the "
            "capture was queued); paste it alone or inside a URL or log line."
        )
    raise InvalidRequestIdError(
        f"{shown!r} contains {len(found)} different RequestIds; look them up one at a time "
        "or pass each as its own argument."
    )
