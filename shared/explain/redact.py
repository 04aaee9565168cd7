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
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from pydantic import BaseModel

from shared.lsq.bounds import MAX_DEPTH, cut_text
from shared.lsq.models import CaptureStatus, DecodedJson

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
_TOO_DEEP = f"…[cut: nested deeper than {MAX_DEPTH} levels]"
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
    "socialsecurity",
    "drivinglicen",
)
_PII_KEYS_EXACT = frozenset(
    {
        "zip",
        "dob",
        "ssn",
        "pan",
        "panno",
        "pannumber",
        "pancard",
        "pancardnumber",
        "taxid",
        "nationalid",
        "voterid",
        "contactnumber",
    }
)
# Custom LeadSquared fields start with ``mx_``: ``mx_PAN_Number`` is checked as ``PANNumber``.
_CUSTOM_FIELD_PREFIX = "mx"
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

# An email's local part, read backwards from its ``@``; the host that follows the ``@``.
# A host without a dot (an address cut short, ``priya.sharma@exa``) is still an email.
_LOCAL_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%'*+^_`{|}~.-"
)  # RFC 5322 also allows & / = ?, which in practice separate an address from what precedes it
_LOCAL_CHARS_RFC = _LOCAL_CHARS | frozenset("&/=?")
_LOCAL_MAX = 64
_HOST = re.compile(r"[A-Za-z0-9*\-]{1,63}+(?:\.[A-Za-z0-9*\-]{1,63}+){0,8}+")
_EMAIL_SHAPE = re.compile(r"[^\s@]{1,64}@[^\s@]{0,255}")

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


def _quoted_patterns(quote: str) -> tuple[re.Pattern[str], ...]:
    """The key/value patterns of JSON-looking text quoted with ``quote`` (``"`` or ``'``).

    A quote may be bare or escaped by up to seven backslashes (JSON inside JSON inside
    JSON). A value never runs past a bare ``quote`` and every repetition is bounded, so each
    match attempt costs a fixed number of steps and masking stays linear in its input.
    """
    q = rf"(?P<q>\\{{0,7}}{quote})"
    sep = r"(?:\s|\\[rnt]){0,16}+"
    value = rf"(?P<val>(?:\\.|[^\\{quote}]){{0,256}}?)(?P=q)"
    attribute = rf"(?P=q)(?P<attr>[^\\{quote}]{{1,100}})(?P=q)"
    flags = re.IGNORECASE | re.DOTALL
    attribute_first = re.compile(
        q + r"(?:Attribute|SchemaName)(?P=q)" + sep + ":" + sep + attribute + sep + "," + sep
        + r"(?P=q)Value(?P=q)" + sep + ":" + sep + r"(?P=q)" + value,
        flags,
    )  # fmt: skip
    value_first = re.compile(
        q + r"Value(?P=q)" + sep + ":" + sep + r"(?P=q)" + value + sep + "," + sep
        + r"(?P=q)(?:Attribute|SchemaName)(?P=q)" + sep + ":" + sep + attribute,
        flags,
    )  # fmt: skip
    key_value = re.compile(
        q + r"(?P<key>[A-Za-z_][A-Za-z0-9_ ]{0,63}+)(?P=q)" + sep + ":" + sep + r"(?P=q)" + value,
        re.DOTALL,
    )  # fmt: skip
    return attribute_first, value_first, key_value


_QUOTED = {quote: _quoted_patterns(quote) for quote in ('"', "'")}

# ``FirstName=Ravi``, ``mx_PAN_Number: ABCDE1234F``, ``Name: "Ravi Kumar"`` in free text.
# A name may run on for up to three more capitalised words. A bare ``name`` key is read with
# the word before it: ``Field name: 'mx_Custom_19'`` names a field, ``First name: Ravi`` a person.
_UNQUOTED_KEY_VALUE = re.compile(
    r"""(?<![\w'"\\])(?:(?P<pre>[A-Za-z]{1,30}+) )?(?P<key>[A-Za-z_][A-Za-z0-9_]{0,63}+)"""
    r"""[ \t]{0,8}+[=:][ \t]{0,8}+["']?"""
    r"""(?P<val>[^\s,;&"'(){}\[\]<>]{1,100}+(?:[ ][A-Z][\w'\-]{0,30}+){0,3}+)"""
)


@functools.lru_cache(maxsize=4096)
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
    if key.startswith(_CUSTOM_FIELD_PREFIX):
        custom = key[len(_CUSTOM_FIELD_PREFIX) :]
        if custom in _PII_KEYS_EXACT or "name" in custom:
            return True
    return key.endswith("name") and key[: -len("name")] in _NAME_KEY_PREFIXES


def mask_text(text: str) -> str:
    """Mask emails, phone numbers and PII-keyed values inside free text.

    Keyed values are found in JSON-looking text with double or single quotes (escaped or
    not) and as ``key=value`` or ``key: value`` in prose. An email cut short
    (``priya.sharma@exa``) is still masked. GUIDs, dates, timestamps and numbers shorter
    than 7 digits are left as they are. The cost is linear in the length of ``text``.

    Args:
        text: any text, e.g. a StatusReason, an exception message or a body that is not JSON.

    Returns:
        The text with PII masked, e.g. ``j***@e***.com``, ``+91 ******12``,
        ``"FirstName": "J***"``, ``FirstName=R***``.
    """
    if not text:
        return text
    masked = text
    for quote, (attribute_first, value_first, key_value) in _QUOTED.items():
        if quote in masked:
            masked = attribute_first.sub(_mask_pair, masked)
            masked = value_first.sub(_mask_pair, masked)
            masked = key_value.sub(_mask_key_value, masked)
    if "=" in masked or ":" in masked:
        masked = _mask_unquoted_key_values(masked)
    masked = _mask_emails(masked)
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
    if _EMAIL_SHAPE.fullmatch(stripped):
        return _mask_emails(stripped)
    phone = _PHONE.fullmatch(stripped)
    if phone and _PHONE_MIN_DIGITS <= _digit_count(stripped) <= _PHONE_MAX_DIGITS:
        return _mask_phone(stripped)
    first = stripped[0]
    return f"{first}{_MASK}" if first.isalnum() else _MASK


def mask_json(value: Any, *, _depth: int = 0) -> Any:
    """Return a masked deep copy of decoded JSON.

    Values under PII keys (case-insensitive), LeadSquared ``Attribute``/``Value`` and
    ``SchemaName``/``Value`` pairs whose name is a PII key, and every other string (through
    :func:`mask_text`) are masked. Numbers, booleans and null outside PII keys are kept.
    Containers nested deeper than :data:`~shared.lsq.bounds.MAX_DEPTH` levels are replaced by a
    marker (answers are bounded when parsed; this guards any other caller).

    Args:
        value: decoded JSON (objects, arrays, strings, numbers, booleans, null).

    Returns:
        A new structure of the same shape; the input is not modified.
    """
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping | list | tuple) and _depth >= MAX_DEPTH:
        return _TOO_DEEP
    if isinstance(value, Mapping):
        return _mask_mapping(cast("Mapping[Any, Any]", value), _depth + 1)
    if isinstance(value, list | tuple):
        items = cast("list[Any] | tuple[Any, ...]", value)
        return [mask_json(item, _depth=_depth + 1) for item in items]
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

    def shown(self, text: str, limit: int) -> str:
        """Bound, mask and truncate one untrusted string for display, in that order.

        The text is cut (on a word boundary) before it is masked, so the cost does not grow
        with the input, and no fragment of an email or phone number is left at the cut.

        Args:
            text: a string that came from LeadSquared.
            limit: the most characters shown.

        Returns:
            At most ``limit`` characters, masked when enabled, ending with ``…`` when cut.
        """
        return truncate(self.text(cut_text(text, limit)), limit)

    def json(self, value: Any) -> Any:
        """Return a deep copy of ``value``, masked with :func:`mask_json` when enabled."""
        return mask_json(value) if self.enabled else copy.deepcopy(value)


#: the default: masking on
DEFAULT_REDACTOR = Redactor()


def _mask_mapping(mapping: Mapping[Any, Any], depth: int) -> dict[Any, Any]:
    # An Attribute/Value pair is PII when any spelling of its name says so, and when its
    # name is not a plain string (a list, an object): a name that cannot be read is PII.
    names = [
        item
        for key, item in mapping.items()
        if isinstance(key, str) and key.lower() in ("attribute", "schemaname")
    ]
    pair_is_pii = any(not isinstance(n, str) or is_pii_key(n) for n in names)
    out: dict[Any, Any] = {}
    for key, item in mapping.items():
        key_name = key if isinstance(key, str) else ""
        # a key may itself be an email or a phone number
        shown_key = mask_text(key) if isinstance(key, str) else key
        if is_pii_key(key_name) or (pair_is_pii and key_name.lower() == "value"):
            out[shown_key] = _mask_everything(item, depth)
        else:
            out[shown_key] = mask_json(item, _depth=depth)
    return out


def _mask_everything(value: Any, depth: int) -> Any:
    """Mask every scalar of a value that sits under a PII key."""
    if depth >= MAX_DEPTH:
        return _MASK
    if isinstance(value, str):
        return mask_pii_value(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return mask_pii_value(str(value))
    if isinstance(value, Mapping):
        items = cast("Mapping[Any, Any]", value)
        return {key: _mask_everything(item, depth + 1) for key, item in items.items()}
    if isinstance(value, list | tuple):
        listed = cast("list[Any] | tuple[Any, ...]", value)
        return [_mask_everything(item, depth + 1) for item in listed]
    return _MASK


def _mask_pair(match: re.Match[str]) -> str:
    if not is_pii_key(match.group("attr")):
        return match.group(0)
    return _replace_group(match, "val", mask_pii_value(match.group("val")))


def _mask_key_value(match: re.Match[str]) -> str:
    if not is_pii_key(match.group("key")):
        return match.group(0)
    return _replace_group(match, "val", mask_pii_value(match.group("val")))


def _mask_unquoted_key_values(text: str) -> str:
    """Mask ``key=value`` and ``key: value`` pairs whose key names PII.

    A pair whose key is not PII is not consumed past its key: its value may itself start the
    next pair (``Exception: Field name : 'mx_Custom_19'``).
    """
    parts: list[str] = []
    position = 0
    scan = 0
    while (match := _UNQUOTED_KEY_VALUE.search(text, scan)) is not None:
        masked = _masked_unquoted_value(match)
        if masked is None:
            scan = match.start("val")
            continue
        parts.append(text[position : match.start("val")])
        parts.append(masked)
        position = scan = match.end()
    parts.append(text[position:])
    return "".join(parts)


def _masked_unquoted_value(match: re.Match[str]) -> str | None:
    key = match.group("key")
    before = match.group("pre")
    if before and key.lower() == "name":
        key = before + key
    if not is_pii_key(key):
        return None
    value = match.group("val")
    if not key.lower().endswith("name"):
        # Only a name runs on over several words; for other keys the value is one token.
        first, _, rest = value.partition(" ")
        return mask_pii_value(first) + (f" {rest}" if rest else "")
    return mask_pii_value(value)


def _replace_group(match: re.Match[str], group: str, replacement: str) -> str:
    start, end = match.span(group)
    base = match.start()
    whole = match.group(0)
    return whole[: start - base] + replacement + whole[end - base :]


def _mask_emails(text: str) -> str:
    """Mask every ``local@host`` in ``text``, found from its ``@`` in linear time."""
    at = text.find("@")
    if at == -1:
        return text
    parts: list[str] = []
    position = 0
    while at != -1:
        floor = max(position, at - _LOCAL_MAX)
        start = _local_start(text, at, floor, _LOCAL_CHARS)
        if start == at:
            start = _local_start(text, at, floor, _LOCAL_CHARS_RFC)
        first_alnum = start
        while first_alnum < at and not text[first_alnum].isalnum():
            first_alnum += 1
        if first_alnum < at:
            start = first_alnum  # leave quotes and punctuation before the address as they are
        if start == at:  # nothing before the @: a mention or a lone @, not an address
            at = text.find("@", at + 1)
            continue
        host = _HOST.match(text, at + 1)
        end = host.end() if host else at + 1
        parts.append(text[position:start])
        parts.append(_masked_email(text[start:at], host.group(0) if host else ""))
        position = end
        at = text.find("@", end)
    parts.append(text[position:])
    return "".join(parts)


def _local_start(text: str, at: int, floor: int, chars: frozenset[str]) -> int:
    start = at
    while start > floor and text[start - 1] in chars:
        start -= 1
    return start


def _masked_email(local: str, host: str) -> str:
    labels = host.split(".")
    if len(labels) > 1 and labels[-1][:1].isalpha():
        return f"{local[0]}{_MASK}@{host[0]}{_MASK}.{labels[-1]}"
    if host:
        return f"{local[0]}{_MASK}@{host[0]}{_MASK}"
    return f"{local[0]}{_MASK}@"


def _mask_phones_outside_protected(text: str) -> str:
    if _PHONE.search(text) is None:
        return text
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
        # Text that is not JSON cannot be masked reliably: with masking on it is withheld,
        # and only its size and why it could not be read are shown.
        return field.model_copy(update={"raw": None if redactor.enabled else field.raw})
    return field.model_copy(update={"value": redactor.json(field.value)})


def redacted_status(status: CaptureStatus, redactor: Redactor) -> CaptureStatus:
    """``status`` with every string that came from LeadSquared masked.

    That is the RequestBody and Message, and every text field of the task and the outcome
    (status, steps, reason, task type, exception, ids): any of them may quote lead details.
    GUIDs survive masking, so ids stay readable.
    """
    task = status.task
    masked_task = task.model_copy(
        update={
            **_masked_strings(task, redactor),
            "request_body": _redacted_json(task.request_body, redactor),
            "message": _redacted_json(task.message, redactor),
        }
    )
    outcome = status.outcome
    if outcome is not None:
        outcome = outcome.model_copy(update=_masked_strings(outcome, redactor))
    return status.model_copy(
        update={
            "request_id": redactor.text(status.request_id),
            "task": masked_task,
            "outcome": outcome,
        }
    )


def _masked_strings(model: BaseModel, redactor: Redactor) -> dict[str, Any]:
    """The masked value of every string (or tuple of strings) field of ``model``."""
    update: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, str):
            update[name] = redactor.text(value)
        elif isinstance(value, tuple) and all(isinstance(v, str) for v in value):  # pyright: ignore[reportUnknownVariableType]
            update[name] = tuple(redactor.text(v) for v in cast("tuple[str, ...]", value))
    return update
