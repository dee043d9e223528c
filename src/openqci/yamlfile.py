"""Read a YAML file into a mapping, refusing what plain PyYAML lets through.

PyYAML keeps the last of two equal keys in a mapping without a word, which would silently drop half of an
entry; here a repeated key is an error with its line. Syntax errors carry their line and column, on one
line: the scenario model and the KME configuration both read their files here and wrap the problem in
their own error, so neither shows PyYAML's multi-line message about a ``<unicode string>``.

Hostile files are refused before they cost anything: a file larger than :data:`MAX_YAML_BYTES` is not
read past that size (``/dev/zero`` included), anchors and aliases are refused (an alias "bomb" of a few
lines expands into billions of nodes for whatever walks the result, and neither a scenario nor a KME
configuration needs them), and nesting deeper than Python's recursion allows is a plain error.
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["MAX_YAML_BYTES", "YamlFileError", "read_yaml_mapping"]

MAX_YAML_BYTES = 16 << 20
"""The largest scenario or configuration file read (EuroQCI's scenario is about 0.2 MB)."""


class YamlFileError(ValueError):
    """A YAML file that cannot be read as a mapping; the message is one line, without the file's name."""


class _StrictLoader(yaml.SafeLoader):
    """The safe loader, with repeated mapping keys, anchors and aliases refused."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise yaml.composer.ComposerError(
                None, None, "anchors and aliases (& and *) are not accepted here", event.start_mark
            )
        return super().compose_node(parent, index)


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} is repeated in this mapping", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml_mapping(path: str, expected: str) -> dict[str, Any]:
    """The top-level mapping of the YAML file at ``path`` (``expected`` names its keys for the message).

    Raises
    ------
    YamlFileError
        If the file cannot be read, is not valid YAML, repeats a key, or does not hold a mapping.
    """
    try:
        with open(path, "rb") as stream:
            raw = stream.read(MAX_YAML_BYTES + 1)
    except OSError as error:
        raise YamlFileError(f"cannot read the file: {error.strerror}") from None
    if len(raw) > MAX_YAML_BYTES:
        raise YamlFileError(f"the file is larger than {MAX_YAML_BYTES >> 20} MiB")
    try:
        data = yaml.load(raw.decode("utf-8"), Loader=_StrictLoader)
    except UnicodeDecodeError:
        raise YamlFileError("cannot read the file: it is not UTF-8 text") from None
    except yaml.YAMLError as error:
        raise YamlFileError(_yaml_problem(error)) from None
    except RecursionError:
        raise YamlFileError("not valid here: the YAML is nested too deeply") from None
    if not isinstance(data, dict):
        raise YamlFileError(f"the file must hold a mapping ({expected})")
    return data


def _yaml_problem(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}not valid YAML: {problem}"
