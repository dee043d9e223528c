"""How every command reports: a rich table for people, one JSON document with ``--json``, one-line errors."""

from __future__ import annotations

import math
import sys
from typing import Any, NoReturn

import orjson
from rich.console import Console

__all__ = ["console", "fail", "print_json"]

console = Console()


def print_json(document: Any) -> None:
    """Print ``document`` as JSON on stdout; NaN and infinities become ``null`` so the output stays valid."""
    sys.stdout.write(orjson.dumps(_finite(document), option=orjson.OPT_SERIALIZE_NUMPY).decode() + "\n")
    sys.stdout.flush()


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``openqci: error: message`` on stderr and exit with ``code``."""
    sys.stderr.write(f"openqci: error: {message}\n")
    raise SystemExit(code)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
