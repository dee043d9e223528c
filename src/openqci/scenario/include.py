"""``include:``: a scenario that builds on others (EuroQCI on FranceQCI) instead of repeating them.

The included files are read first, in order, and the including file's entries come after theirs. An entry
of ``sites``, ``links``, ``satellites``, ``saes`` or ``demands`` whose name is already there replaces the
earlier one in place (so a file can, say, give an included satellite more ground stations). The
``planning`` sections merge the same way: lists concatenate, other keys are overridden. Paths are relative
to the including file; includes nest, up to :data:`MAX_INCLUDE_DEPTH`, and a cycle is refused.
"""

from __future__ import annotations

import os
from typing import Any

from openqci.yamlfile import YamlFileError, read_yaml_mapping

__all__ = ["MAX_INCLUDE_DEPTH", "IncludeError", "resolve_includes"]

MAX_INCLUDE_DEPTH = 8
"""How deep includes may nest."""

_NAMED = ("sites", "links", "satellites", "saes", "demands")


class IncludeError(ValueError):
    """An included file cannot be read or the includes nest badly; the message names the file."""


def resolve_includes(raw: dict[str, Any], path: str, _chain: tuple[str, ...] = ()) -> dict[str, Any]:
    """``raw`` (read from ``path``) with every file it includes merged in; ``include`` is kept as given."""
    includes = raw.get("include")
    if includes is None:
        return raw
    if isinstance(includes, str):
        includes = [includes]
    if not isinstance(includes, list) or not all(isinstance(item, str) for item in includes):
        raise IncludeError("include: must be a file name or a list of file names")
    chain = (*_chain, os.path.realpath(path))
    if len(chain) > MAX_INCLUDE_DEPTH:
        raise IncludeError(f"include: more than {MAX_INCLUDE_DEPTH} levels of nesting")
    merged: dict[str, Any] = {}
    for name in includes:
        target = os.path.join(os.path.dirname(path), name)
        if os.path.realpath(target) in chain:
            raise IncludeError(f"include: {name} includes itself (directly or through another file)")
        try:
            included = read_yaml_mapping(target, "name, sites, links, saes, demands, ...")
        except YamlFileError as error:
            raise IncludeError(f"include: {name}: {error}") from None
        merged = _merge(merged, resolve_includes(included, target, chain))
    own = {key: value for key, value in raw.items() if key != "include"}
    result = _merge(merged, own)
    result["include"] = includes
    return result


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in top.items():
        if key in _NAMED and isinstance(value, list) and isinstance(result.get(key), list):
            result[key] = _merge_named(result[key], value)
        elif key == "planning" and isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _merge_planning(result[key], value)
        elif key != "include":
            result[key] = value
    return result


def _merge_named(base: list[Any], top: list[Any]) -> list[Any]:
    result = list(base)
    where = {_name(entry): index for index, entry in enumerate(result) if _name(entry) is not None}
    for entry in top:
        name = _name(entry)
        if name is not None and name in where:
            result[where[name]] = entry
        else:
            result.append(entry)
    return result


def _merge_planning(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in top.items():
        if isinstance(value, list) and isinstance(result.get(key), list):
            result[key] = [*result[key], *value]
        else:
            result[key] = value
    return result


def _name(entry: Any) -> str | None:
    return entry.get("name") if isinstance(entry, dict) and isinstance(entry.get("name"), str) else None
