"""A redacted summary of the Capture Opportunities body a request was submitted with.

The summary names what was sent (the opportunity type, how many fields, which lead key was
searched, the schema names of the fields) without the values of lead attributes or fields:
those are PII. The note is free text and is masked.

A body that is not a JSON object cannot be masked reliably (a single-quoted or truncated
body hides its keys from the masker), so with masking on no surface shows any of it: the
summary says how long it is and why it could not be read. With masking off (a trusted
deployment), a short excerpt is kept.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, cast

from pydantic import BaseModel, ConfigDict

from shared.explain.redact import Redactor, truncate
from shared.lsq.models import DecodedJson, lower_keys

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
            ``unreadable_reason``, ``size`` and (with masking off) ``raw_excerpt`` are set.
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
        raw_excerpt: the start of a body that could not be read, only when masking is off.
        unreadable_reason: why the body could not be read, e.g. ``not valid JSON: Expecting
            property name enclosed in double quotes (character 2)``.
        size: the body's length in characters, as received.
        cut: the body was larger or deeper than the bounds of :mod:`shared.lsq.bounds` and was
            cut before it was summarised.
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
    unreadable_reason: str | None = None
    size: int | None = None
    cut: bool = False

    def one_line(self) -> str:
        """Render the summary on one plain-text line.

        Returns:
            e.g. ``opportunity type 12000; 2 opportunity fields (mx_Custom_1, mx_Custom_2);
            3 lead attributes; lead searched by EmailAddress; note: "Call back"``.
        """
        if not self.readable:
            return self._unreadable_line()
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
        if self.cut:
            parts.append("body cut to its first part (too large or too deeply nested)")
        return "; ".join(parts)

    def _unreadable_line(self) -> str:
        size = "" if self.size is None else f"{self.size:,} characters, "
        line = f"body not readable as a JSON object ({size}{self.unreadable_reason or 'unknown'})"
        if self.raw_excerpt is not None:
            return f"{line}: {self.raw_excerpt}"
        return f"{line}; not shown, as it could hold lead details that cannot be masked"


def summarize_request(body: DecodedJson, redactor: Redactor) -> RequestSummary | None:
    """Summarise the ``RequestBody`` of a status answer without exposing PII.

    Keys are read case-insensitively and every shape is tolerated: missing or mistyped
    parts are simply left out of the summary.

    Args:
        body: ``TaskStatus.request_body`` as decoded by :mod:`shared.lsq.models`.
        redactor: masks the note and the raw excerpt (and any name that looks like PII).

    Returns:
        The summary, or ``None`` when the answer carried no body at all.
    """
    if not body.present:
        return None
    if not body.decoded:
        return _unreadable(body, body.unreadable or "not valid JSON", redactor)
    value: object = body.value
    if not isinstance(value, Mapping):
        return _unreadable(body, f"JSON {_json_kind(value)}, not an object", redactor)
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
            redactor.shown(note.strip(), _NOTE_LIMIT)
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
        cut=body.cut,
    )


def _unreadable(body: DecodedJson, reason: str, redactor: Redactor) -> RequestSummary:
    excerpt: str | None = None
    if not redactor.enabled and body.raw is not None:
        excerpt = truncate(body.raw, RAW_EXCERPT_LIMIT)
    elif not redactor.enabled and body.decoded:
        excerpt = truncate(json.dumps(body.value, ensure_ascii=False), RAW_EXCERPT_LIMIT)
    return RequestSummary(
        readable=False,
        raw_excerpt=excerpt,
        unreadable_reason=reason,
        size=body.size or None,
        cut=body.cut,
    )


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return f"array of {len(cast('list[Any]', value)):,} items"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


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
    return redactor.shown(stripped, _NAME_LIMIT)


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
