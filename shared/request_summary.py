"""A redacted summary of the Capture Opportunities body a request was submitted with.

The summary names what was sent (the opportunity type, how many fields, which lead key was
searched, the schema names of the fields) without the values of lead attributes or fields:
those are PII. The note is free text and is masked. A body that is not a JSON object is
kept as a short masked excerpt.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, cast

from pydantic import BaseModel, ConfigDict

from shared.models import DecodedJson, lower_keys
from shared.redact import Redactor, truncate

__all__ = ["RAW_EXCERPT_LIMIT", "RequestSummary", "summarize_request"]

#: longest raw excerpt kept from a body that could not be read
RAW_EXCERPT_LIMIT = 300
_NOTE_LIMIT = 500
_NAME_LIMIT = 100
_MAX_NAMES = 100
_ONE_LINE_NAMES = 5


class RequestSummary(BaseModel):
    """What a Capture Opportunities request asked for, without PII.

    Attributes:
        readable: False when the body is not valid JSON or not a JSON object; then only
            ``raw_excerpt`` is set.
        opportunity_event_code: the opportunity type (``Opportunity.OpportunityEventCode``).
        opportunity_note: ``Opportunity.OpportunityNote``, masked and truncated.
        opportunity_field_count: how many entries ``Opportunity.Fields`` has.
        opportunity_field_names: the ``SchemaName`` of each field (names only, no values).
        lead_attribute_count: how many lead attributes ``LeadDetails`` has, not counting
            the ``SearchBy`` entry.
        lead_attribute_names: the ``Attribute`` names sent for the lead (no values).
        search_by: the name of the lead key searched (the ``SearchBy`` value, e.g.
            ``EmailAddress``), never the lead's value for it.
        update_empty_fields: ``UpdateEmptyFields`` when it is a boolean.
        overwrite_fields: ``OverwriteFields`` when it is a boolean.
        raw_excerpt: the start of a body that could not be read, masked and truncated.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    readable: bool
    opportunity_event_code: int | None = None
    opportunity_note: str | None = None
    opportunity_field_count: int = 0
    opportunity_field_names: tuple[str, ...] = ()
    lead_attribute_count: int = 0
    lead_attribute_names: tuple[str, ...] = ()
    search_by: str | None = None
    update_empty_fields: bool | None = None
    overwrite_fields: bool | None = None
    raw_excerpt: str | None = None

    def one_line(self) -> str:
        """Render the summary on one plain-text line.

        Returns:
            e.g. ``opportunity type 12000; 2 opportunity fields (mx_Custom_1, mx_Custom_2);
            3 lead attributes; lead searched by EmailAddress; note: "Call back"``.
        """
        if not self.readable:
            return f"body not readable as a JSON object: {self.raw_excerpt or '(empty)'}"
        parts: list[str] = []
        if self.opportunity_event_code is not None:
            parts.append(f"opportunity type {self.opportunity_event_code}")
        field_word = "field" if self.opportunity_field_count == 1 else "fields"
        fields = f"{self.opportunity_field_count} opportunity {field_word}"
        if self.opportunity_field_names:
            shown = ", ".join(self.opportunity_field_names[:_ONE_LINE_NAMES])
            more = len(self.opportunity_field_names) > _ONE_LINE_NAMES
            fields += f" ({shown}{', …' if more else ''})"
        parts.append(fields)
        attribute_word = "attribute" if self.lead_attribute_count == 1 else "attributes"
        parts.append(f"{self.lead_attribute_count} lead {attribute_word}")
        if self.search_by:
            parts.append(f"lead searched by {self.search_by}")
        if self.opportunity_note:
            parts.append(f'note: "{self.opportunity_note}"')
        return "; ".join(parts)


def summarize_request(body: DecodedJson, redactor: Redactor) -> RequestSummary | None:
    """Summarise the ``RequestBody`` of a status answer without exposing PII.

    Keys are read case-insensitively and every shape is tolerated: missing or mistyped
    parts are simply left out of the summary.

    Args:
        body: ``TaskStatus.request_body`` as decoded by :mod:`shared.models`.
        redactor: masks the note and the raw excerpt (and any name that looks like PII).

    Returns:
        The summary, or ``None`` when the answer carried no body at all.
    """
    if not body.present:
        return None
    if body.raw is not None:
        return _unreadable(body.raw, redactor)
    value: object = body.value
    if not isinstance(value, Mapping):
        return _unreadable(json.dumps(redactor.json(value), ensure_ascii=False), redactor)
    root = lower_keys(cast("Mapping[Any, Any]", value))
    opportunity_raw = root.get("opportunity")
    opportunity = (
        lower_keys(cast("Mapping[Any, Any]", opportunity_raw))
        if isinstance(opportunity_raw, Mapping)
        else {}
    )
    lead_names, search_by = _lead_details(root.get("leaddetails"), redactor)
    field_names, field_count = _opportunity_fields(opportunity.get("fields"), redactor)
    note = opportunity.get("opportunitynote")
    return RequestSummary(
        readable=True,
        opportunity_event_code=_integer(opportunity.get("opportunityeventcode")),
        opportunity_note=(
            truncate(redactor.text(note.strip()), _NOTE_LIMIT)
            if isinstance(note, str) and note.strip()
            else None
        ),
        opportunity_field_count=field_count,
        opportunity_field_names=field_names,
        lead_attribute_count=len(lead_names),
        lead_attribute_names=lead_names[:_MAX_NAMES],
        search_by=search_by,
        update_empty_fields=_boolean(
            opportunity.get("updateemptyfields", root.get("updateemptyfields"))
        ),
        overwrite_fields=_boolean(opportunity.get("overwritefields", root.get("overwritefields"))),
    )


def _unreadable(text: str, redactor: Redactor) -> RequestSummary:
    # Mask the whole text first: a cut could split an email so it is no longer recognised.
    return RequestSummary(
        readable=False, raw_excerpt=truncate(redactor.text(text), RAW_EXCERPT_LIMIT)
    )


def _lead_details(details: object, redactor: Redactor) -> tuple[tuple[str, ...], str | None]:
    """Return the attribute names (without SearchBy) and the SearchBy value."""
    names: list[str] = []
    search_by: str | None = None
    pairs: list[tuple[str, object]] = []
    if isinstance(details, Mapping):
        pairs = [
            (key, item)
            for key, item in cast("Mapping[Any, Any]", details).items()
            if isinstance(key, str)
        ]
    elif isinstance(details, list):
        for entry in cast("list[Any]", details):
            if isinstance(entry, Mapping):
                fields = lower_keys(cast("Mapping[Any, Any]", entry))
                attribute = fields.get("attribute")
                if isinstance(attribute, str):
                    pairs.append((attribute, fields.get("value")))
    for attribute, item in pairs:
        name = _name(attribute, redactor)
        if name is None:
            continue
        if name.lower() == "searchby":
            if isinstance(item, str) and item.strip():
                search_by = _name(item, redactor)
            continue
        names.append(name)
    return tuple(names), search_by


def _opportunity_fields(fields: object, redactor: Redactor) -> tuple[tuple[str, ...], int]:
    """Return the schema names (at most ``_MAX_NAMES``) and the number of fields."""
    names: list[str] = []
    if isinstance(fields, Mapping):
        items = cast("Mapping[Any, Any]", fields)
        names = [n for key in items if isinstance(key, str) and (n := _name(key, redactor))]
        return tuple(names[:_MAX_NAMES]), len(items)
    if not isinstance(fields, list):
        return (), 0
    entries = cast("list[Any]", fields)
    for entry in entries:
        if isinstance(entry, Mapping):
            schema_name = lower_keys(cast("Mapping[Any, Any]", entry)).get("schemaname")
            if isinstance(schema_name, str) and (name := _name(schema_name, redactor)):
                names.append(name)
    return tuple(names[:_MAX_NAMES]), len(entries)


def _name(text: str, redactor: Redactor) -> str | None:
    stripped = text.strip()
    if not stripped:
        return None
    return truncate(redactor.text(stripped), _NAME_LIMIT)


def _integer(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _boolean(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None
