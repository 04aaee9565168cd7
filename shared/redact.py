"""PII masking for anything shown to people.

``RequestBody`` holds lead PII (emails, phones, names), and upstream free text
(``StatusReason``, exception messages) may quote it. Everything taken from LeadSquared goes
through a :class:`Redactor` before it is shown; masking is on by default.

What is masked:

- email addresses: ``john.smith@example.com`` becomes ``j***@e***.com``;
- phone numbers (7 to 15 digits, international or local): ``+91 98765 43212`` becomes
  ``+91 ******12``;
- values under keys that name PII (email, phone, mobile, names, address, ...), in JSON
  objects and in JSON-looking raw text, including LeadSquared's
  ``{"Attribute": "FirstName", "Value": "John"}`` and
  ``{"SchemaName": "mx_Customer_Name", "Value": "John"}`` pairs: ``"FirstName": "J***"``.

What is kept readable: GUIDs (request, opportunity, lead and activity ids), ISO dates and
timestamps, and short numbers such as the OpportunityEventCode ``12000``.

A name in free text without a key (``"Lead John Smith exists"``) cannot be told apart from
other words and is not masked.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from shared.models import CaptureStatus, DecodedJson

__all__ = [
    "DEFAULT_REDACTOR",
    "Redactor",
    "is_pii_key",
    "mask_json",
    "mask_pii_value",
    "mask_text",
    "redacted_status",
    "truncate",
]

_MASK = "***"
_PHONE_MASK = "******"
_PHONE_MIN_DIGITS = 7
_PHONE_MAX_DIGITS = 15

# Substrings of a normalised key (lower case, letters and digits only) that name PII.
_PII_KEY_PARTS = (
    "email",
    "phone",
    "mobile",
    "address",
    "street",
    "zipcode",
    "postalcode",
    "postcode",
    "pincode",
    "birth",
    "passport",
    "aadhaar",
    "aadhar",
    "whatsapp",
    "landline",
    "fax",
)
_PII_KEYS_EXACT = frozenset({"zip", "dob", "ssn", "pan", "pannumber", "contactnumber"})
# "<prefix>name" keys that hold a person's name; "SchemaName", "FileName" etc. do not.
_NAME_KEY_PREFIXES = frozenset(
    {
        "",
        "first",
        "last",
        "middle",
        "full",
        "given",
        "family",
        "sur",
        "nick",
        "maiden",
        "contact",
        "customer",
        "lead",
        "prospect",
        "person",
        "owner",
        "user",
        "father",
        "mother",
        "spouse",
        "guardian",
        "nominee",
        "applicant",
        "opportunity",
    }
)

_EMAIL = re.compile(
    r"(?P<local>[A-Za-z0-9!#$%&'*+/=?^_`{|}~.\-]{1,64})"
    r"@(?P<domain>(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.){1,127})"
    r"(?P<tld>[A-Za-z][A-Za-z0-9\-]{0,61}[A-Za-z0-9])"
    r"(?![A-Za-z0-9\-])"
)

# Text that looks numeric but must stay readable: GUIDs and dates.
_PROTECTED = re.compile(
    r"(?<![0-9A-Za-z])[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
    r"(?![0-9A-Za-z])"
    r"|(?<!\d)\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+\-]\d{2}:?\d{2})?)?"
    r"(?!\d)"
    r"|(?<!\d)\d{4}([./])\d{1,2}\1\d{1,2}(?!\d)"
    r"|(?<!\d)\d{1,2}([./\-])\d{1,2}\2\d{4}(?!\d)"
    r"|/Date\(\d+(?:[+\-]\d{4})?\)/"
)

# Possessive digit groups keep matching linear on long digit runs.
_PHONE = re.compile(
    r"(?<![\w+])"
    r"(?:\+ ?)?"
    r"(?:\(\d{1,5}+\)|\d{1,5}+)"
    r"(?:[ .\-]?(?:\(\d{1,5}+\)|\d{1,6}+)){1,8}"
    r"(?![\w\-]|\.\d)"
)
_PHONE_PREFIX = re.compile(r"^(\+ ?\d{1,3})[ .\-(]")
_DECIMAL = re.compile(r"^\d+\.\d+$")

# A quote as it appears in raw text: ``"``, or ``\"`` inside an escaped JSON string.
_Q = r'(?P<q>\\*")'
_SEP = r"(?:\s|\\[rnt])*"
_STRING_VALUE = r"(?P<val>(?:\\.|[^\"\\])*?)(?P=q)"
_PAIR_ATTRIBUTE_FIRST = re.compile(
    _Q
    + r"(?:Attribute|SchemaName)(?P=q)"
    + _SEP + ":" + _SEP
    + r'(?P=q)(?P<attr>[^"\\]{1,100})(?P=q)'
    + _SEP + "," + _SEP
    + r"(?P=q)Value(?P=q)"
    + _SEP + ":" + _SEP
    + r"(?P=q)"
    + _STRING_VALUE,
    re.IGNORECASE,
)  # fmt: skip
_PAIR_VALUE_FIRST = re.compile(
    _Q
    + r"Value(?P=q)"
    + _SEP + ":" + _SEP
    + r"(?P=q)"
    + _STRING_VALUE
    + _SEP + "," + _SEP
    + r"(?P=q)(?:Attribute|SchemaName)(?P=q)"
    + _SEP + ":" + _SEP
    + r'(?P=q)(?P<attr>[^"\\]{1,100})(?P=q)',
    re.IGNORECASE,
)  # fmt: skip
_KEY_VALUE = re.compile(
    _Q
    + r"(?P<key>[A-Za-z_][A-Za-z0-9_ ]{0,63})(?P=q)"
    + _SEP + ":" + _SEP
    + r"(?P=q)"
    + _STRING_VALUE
)  # fmt: skip


def is_pii_key(name: str) -> bool:
    """Tell whether a field or attribute name says its value is PII.

    Case, underscores and spaces are ignored, so ``EmailAddress``, ``mx_Alt_Email``,
    ``Phone``, ``Mobile``, ``FirstName``, ``Name``, ``FullName`` and ``mx_Customer_Name``
    are PII keys, while ``SchemaName``, ``SearchBy`` and ``RelatedProspectId`` are not.

    Args:
        name: the key, ``Attribute`` or ``SchemaName``.

    Returns:
        True when values under this name should be masked.
    """
    key = "".join(ch for ch in name.lower() if ch.isalnum())
    if not key:
        return False
    if key in _PII_KEYS_EXACT or any(part in key for part in _PII_KEY_PARTS):
        return True
    if key.startswith("mx") and "name" in key[2:]:
        return True
    return key.endswith("name") and key[: -len("name")] in _NAME_KEY_PREFIXES


def mask_text(text: str) -> str:
    """Mask emails, phone numbers and PII-keyed JSON values inside free text.

    GUIDs, dates, timestamps and numbers shorter than 7 digits are left as they are.

    Args:
        text: any text, e.g. a StatusReason, an exception message or a body that is not JSON.

    Returns:
        The text with PII masked, e.g. ``j***@e***.com``, ``+91 ******12``,
        ``"FirstName": "J***"``.
    """
    if not text:
        return text
    masked = _PAIR_ATTRIBUTE_FIRST.sub(_mask_pair, text)
    masked = _PAIR_VALUE_FIRST.sub(_mask_pair, masked)
    masked = _KEY_VALUE.sub(_mask_key_value, masked)
    masked = _EMAIL.sub(_mask_email_match, masked)
    return _mask_phones_outside_protected(masked)


def mask_pii_value(value: str) -> str:
    """Mask a value known to be PII (it sits under a PII key) entirely.

    An email keeps its first character and top-level domain, a phone number its last two
    digits; anything else keeps only its first character.

    Args:
        value: the value of a PII field.

    Returns:
        The masked value; an empty or blank value is returned unchanged.
    """
    stripped = value.strip()
    if not stripped:
        return value
    email = _EMAIL.fullmatch(stripped)
    if email:
        return _mask_email_match(email)
    phone = _PHONE.fullmatch(stripped)
    if phone and _PHONE_MIN_DIGITS <= _digit_count(stripped) <= _PHONE_MAX_DIGITS:
        return _mask_phone(stripped)
    first = stripped[0]
    return f"{first}{_MASK}" if first.isalnum() else _MASK


def mask_json(value: Any) -> Any:
    """Return a masked deep copy of decoded JSON.

    Values under PII keys (case-insensitive), LeadSquared ``Attribute``/``Value`` and
    ``SchemaName``/``Value`` pairs whose name is a PII key, and every other string (through
    :func:`mask_text`) are masked. Numbers, booleans and null outside PII keys are kept.

    Args:
        value: decoded JSON (objects, arrays, strings, numbers, booleans, null).

    Returns:
        A new structure of the same shape; the input is not modified.
    """
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        return _mask_mapping(cast("Mapping[Any, Any]", value))
    if isinstance(value, list | tuple):
        return [mask_json(item) for item in cast("list[Any] | tuple[Any, ...]", value)]
    return copy.deepcopy(value)


def truncate(text: str, limit: int) -> str:
    """Shorten ``text`` to at most ``limit`` characters, ending with an ellipsis when cut.

    Mask before truncating: a cut can split an email or phone number so that it is no
    longer recognised.

    Args:
        text: the text to shorten.
        limit: the largest length allowed (at least 1).

    Returns:
        ``text`` itself when short enough, else its first ``limit - 1`` characters and ``…``.

    Raises:
        ValueError: ``limit`` is smaller than 1.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"


@dataclass(frozen=True, slots=True)
class Redactor:
    """Masks PII in what is shown to people, unless masking is turned off.

    Attributes:
        enabled: mask PII (the default). Turn off only for trusted deployments, through
            the redaction setting.
    """

    enabled: bool = True

    def text(self, text: str) -> str:
        """Mask ``text`` with :func:`mask_text` when enabled; otherwise return it as is."""
        return mask_text(text) if self.enabled else text

    def json(self, value: Any) -> Any:
        """Return a deep copy of ``value``, masked with :func:`mask_json` when enabled."""
        return mask_json(value) if self.enabled else copy.deepcopy(value)


#: the default: masking on
DEFAULT_REDACTOR = Redactor()


def _mask_mapping(mapping: Mapping[Any, Any]) -> dict[Any, Any]:
    lowered = {k.lower(): v for k, v in mapping.items() if isinstance(k, str)}
    pair_name = lowered.get("attribute", lowered.get("schemaname"))
    pair_is_pii = isinstance(pair_name, str) and is_pii_key(pair_name)
    out: dict[Any, Any] = {}
    for key, item in mapping.items():
        key_name = key if isinstance(key, str) else ""
        if is_pii_key(key_name) or (pair_is_pii and key_name.lower() == "value"):
            out[key] = _mask_everything(item)
        else:
            out[key] = mask_json(item)
    return out


def _mask_everything(value: Any) -> Any:
    """Mask every scalar of a value that sits under a PII key."""
    if isinstance(value, str):
        return mask_pii_value(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return mask_pii_value(str(value))
    if isinstance(value, Mapping):
        items = cast("Mapping[Any, Any]", value)
        return {key: _mask_everything(item) for key, item in items.items()}
    if isinstance(value, list | tuple):
        return [_mask_everything(item) for item in cast("list[Any] | tuple[Any, ...]", value)]
    return _MASK


def _mask_pair(match: re.Match[str]) -> str:
    if not is_pii_key(match.group("attr")):
        return match.group(0)
    return _replace_group(match, "val", mask_pii_value(match.group("val")))


def _mask_key_value(match: re.Match[str]) -> str:
    if not is_pii_key(match.group("key")):
        return match.group(0)
    return _replace_group(match, "val", mask_pii_value(match.group("val")))


def _replace_group(match: re.Match[str], group: str, replacement: str) -> str:
    start, end = match.span(group)
    base = match.start()
    whole = match.group(0)
    return whole[: start - base] + replacement + whole[end - base :]


def _mask_email_match(match: re.Match[str]) -> str:
    local = match.group("local")
    domain = match.group("domain")
    return f"{local[0]}{_MASK}@{domain[0]}{_MASK}.{match.group('tld')}"


def _mask_phones_outside_protected(text: str) -> str:
    parts: list[str] = []
    position = 0
    for protected in _PROTECTED.finditer(text):
        parts.append(_PHONE.sub(_mask_phone_match, text[position : protected.start()]))
        parts.append(protected.group(0))
        position = protected.end()
    parts.append(_PHONE.sub(_mask_phone_match, text[position:]))
    return "".join(parts)


def _mask_phone_match(match: re.Match[str]) -> str:
    candidate = match.group(0)
    if not _PHONE_MIN_DIGITS <= _digit_count(candidate) <= _PHONE_MAX_DIGITS:
        return candidate
    if _DECIMAL.match(candidate):
        return candidate
    return _mask_phone(candidate)


def _mask_phone(phone: str) -> str:
    digits = [ch for ch in phone if ch.isdigit()]
    prefix = _PHONE_PREFIX.match(phone)
    country = f"{prefix.group(1)} " if prefix else ""
    return f"{country}{_PHONE_MASK}{''.join(digits[-2:])}"


def _digit_count(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


def _redacted_json(field: DecodedJson, redactor: Redactor) -> DecodedJson:
    if not field.present:
        return field
    if field.raw is not None:
        return field.model_copy(update={"raw": redactor.text(field.raw)})
    return field.model_copy(update={"value": redactor.json(field.value)})


def redacted_status(status: CaptureStatus, redactor: Redactor) -> CaptureStatus:
    """``status`` with the PII of its RequestBody, Message and reasons masked."""
    task = status.task
    reason = task.status_reason
    masked_task = task.model_copy(
        update={
            "status_reason": None if reason is None else redactor.text(reason),
            "request_body": _redacted_json(task.request_body, redactor),
            "message": _redacted_json(task.message, redactor),
        }
    )
    outcome = status.outcome
    if outcome is not None and outcome.exception_message is not None:
        outcome = outcome.model_copy(
            update={"exception_message": redactor.text(outcome.exception_message)}
        )
    return status.model_copy(update={"task": masked_task, "outcome": outcome})
