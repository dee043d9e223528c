"""How every command reports: a rich table for people, one JSON document with ``--json``, one-line errors."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, NoReturn

import orjson
from rich.console import Console

__all__ = ["FIGURE_FORMATS", "check_figure_path", "console", "fail", "print_json"]

FIGURE_FORMATS = (".png", ".pdf", ".svg")
"""Formats a ``--plot`` option writes, chosen by the file's suffix."""

console = Console()


def print_json(document: Any) -> None:
    """Print ``document`` as JSON on stdout; NaN and infinities become ``null`` so the output stays valid."""
    sys.stdout.write(orjson.dumps(_finite(document), option=orjson.OPT_SERIALIZE_NUMPY).decode() + "\n")
    sys.stdout.flush()


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``openqci: error: message`` on stderr and exit with ``code``."""
    sys.stderr.write(f"openqci: error: {message}\n")
    raise SystemExit(code)


def check_figure_path(option: str, path: Path) -> None:
    """Refuse, before any work is done, a figure path that cannot be written in a known format."""
    if path.suffix.lower() not in FIGURE_FORMATS:
        fail(
            f"{option} {path}: the figure is written as {', '.join(FIGURE_FORMATS)} (from the file's suffix)"
        )
    if not path.resolve().parent.is_dir():
        fail(f"{option} {path}: the folder {path.resolve().parent} does not exist")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
