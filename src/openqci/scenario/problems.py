"""Turn a pydantic validation error on a scenario into lines a person can act on.

Each problem reads ``entry: field: what is wrong``, where the entry is the list and index in the file plus
the entry's name when it has one (``links[3] (paris-orsay): length_km: must be > 0``), so the user finds
the line without counting. Messages say what is expected rather than repeating pydantic's wording.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

__all__ = ["REFERENCE_ERROR", "Location", "describe_validation_error", "format_problem"]

REFERENCE_ERROR = "scenario_reference"
"""Error type of the cross-reference pass; its context holds ``problems``, a list of (location, message)."""

Location = tuple[str | int, ...]
"""Where a problem lies, as pydantic writes it: ``("links", 3, "length_km")``."""

_BOUNDS = {
    "greater_than": ("gt", ">"),
    "greater_than_equal": ("ge", ">="),
    "less_than": ("lt", "<"),
    "less_than_equal": ("le", "<="),
}
_FIXED = {
    "missing": "required field is missing",
    "string_pattern_mismatch": "use letters, digits, '-', '_' or '.', starting with a letter or digit",
    "tuple_type": "must be a list",
    "model_type": "must be a mapping of fields",
    "model_attributes_type": "must be a mapping of fields",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "string_type": "must be text",
    "timezone_aware": "give a time zone, e.g. 2025-01-01T00:00:00Z",
}


def describe_validation_error(error: ValidationError, raw: Mapping[str, Any]) -> list[str]:
    """One ``entry: field: message`` line per problem in ``error``, naming entries from the ``raw`` data."""
    details = error.errors(include_url=False)
    lines: list[str] = []
    for detail in details:
        if _follows_from_another(detail, details):
            continue
        if detail["type"] == REFERENCE_ERROR:
            context = detail.get("ctx") or {}
            lines.extend(format_problem(loc, message, raw) for loc, message in context["problems"])
        else:
            lines.append(format_problem(detail["loc"], _message(detail), raw))
    return lines


def format_problem(loc: Sequence[str | int], message: str, raw: Mapping[str, Any]) -> str:
    """``entry: field: message`` for a problem at ``loc`` (the field is left out when ``loc`` has none)."""
    if len(loc) >= 2 and isinstance(loc[1], int):
        entry = f"{loc[0]}[{loc[1]}]{_entry_name(raw, str(loc[0]), loc[1])}"
        field = _dotted(loc[2:])
    else:
        entry, field = (str(loc[0]), _dotted(loc[1:])) if loc else ("scenario", "")
    return f"{entry}: {field}: {message}" if field else f"{entry}: {message}"


def _follows_from_another(detail: ErrorDetails, details: Sequence[ErrorDetails]) -> bool:
    """A list reported too short only because one of its entries failed says nothing new."""
    loc = detail["loc"]
    if detail["type"] != "too_short":
        return False
    return any(len(other["loc"]) > len(loc) and other["loc"][: len(loc)] == loc for other in details)


def _entry_name(raw: Mapping[str, Any], collection: str, index: int) -> str:
    entries = raw.get(collection)
    if isinstance(entries, list) and 0 <= index < len(entries) and isinstance(entries[index], dict):
        name = entries[index].get("name")
        if isinstance(name, str) and name:
            return f" ({name})"
    return ""


def _dotted(parts: Sequence[str | int]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def _message(detail: ErrorDetails) -> str:
    kind, context = detail["type"], detail.get("ctx") or {}
    if kind in _BOUNDS:
        key, symbol = _BOUNDS[kind]
        return f"must be {symbol} {context[key]:g}"
    if kind in _FIXED:
        return _FIXED[kind]
    if kind == "enum":
        return f"must be one of {context['expected']}"
    if kind == "multiple_of":
        return f"must be a multiple of {context['multiple_of']}"
    if kind == "extra_forbidden":
        return "unknown field (see docs/scenario.md for the fields of each entry)"
    if kind == "too_short":
        return f"needs at least {context['min_length']} item(s)"
    text = detail["msg"].removeprefix("Value error, ")
    return text[:1].lower() + text[1:]
