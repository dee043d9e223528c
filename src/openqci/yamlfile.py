"""Read a YAML file into a mapping, refusing what plain PyYAML lets through.

PyYAML keeps the last of two equal keys in a mapping without a word, which would silently drop half of an
entry; here a repeated key is an error with its line. Syntax errors carry their line and column, on one
line: the scenario model and the KME configuration both read their files here and wrap the problem in
their own error, so neither shows PyYAML's multi-line message about a ``<unicode string>``.
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["YamlFileError", "read_yaml_mapping"]


class YamlFileError(ValueError):
    """A YAML file that cannot be read as a mapping; the message is one line, without the file's name."""


class _StrictLoader(yaml.SafeLoader):
    """The safe loader, with repeated mapping keys refused."""


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
        with open(path, encoding="utf-8") as stream:
            data = yaml.load(stream, Loader=_StrictLoader)
    except OSError as error:
        raise YamlFileError(f"cannot read the file: {error.strerror}") from None
    except UnicodeDecodeError:
        raise YamlFileError("cannot read the file: it is not UTF-8 text") from None
    except yaml.YAMLError as error:
        raise YamlFileError(_yaml_problem(error)) from None
    if not isinstance(data, dict):
        raise YamlFileError(f"the file must hold a mapping ({expected})")
    return data


def _yaml_problem(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}not valid YAML: {problem}"
