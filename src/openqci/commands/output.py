"""How every command reports: a rich table for people, one JSON document with ``--json``, one-line errors.

Table cells go through :func:`cell`, so a person never reads a Python repr: numbers keep four significant
digits (a key rate is not known better than that), integers get thousands separators, a missing or
undefined figure is a dash, and a sequence or mapping reads as a list.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NoReturn

import orjson
from rich.console import Console

if TYPE_CHECKING:
    from rich.table import Table

__all__ = [
    "FIGURE_FORMATS",
    "MISSING",
    "cell",
    "check_figure_path",
    "console",
    "fail",
    "new_table",
    "print_json",
    "si",
]

FIGURE_FORMATS = (".png", ".pdf", ".svg")
"""Formats a ``--plot`` option writes, chosen by the file's suffix."""

console = Console()

MISSING = "—"
"""What a table shows for a figure that is absent or undefined (``None``, NaN)."""


def new_table(title: str | None, columns: Mapping[str, Literal["left", "right"]]) -> Table:
    """A table with ``columns`` (header to justification) whose headers survive a narrow terminal.

    Each column is at least as wide as the longest word of its header, so at 80 columns a header may
    wrap between words but is never cut. Cells wrap, and a word too long for its column folds rather than
    ending in an ellipsis, except in the first column, which names the row and stays on one line. No outer
    edge, to leave room for figures.
    """
    from rich import box
    from rich.table import Table

    made = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    for index, (header, justify) in enumerate(columns.items()):
        widest_word = max(len(word) for word in header.split())
        made.add_column(header, justify=justify, min_width=widest_word, no_wrap=index == 0, overflow="fold")
    return made


def cell(value: object, *, digits: int = 4, unit: str = "") -> str:
    """``value`` as a table shows it: a number to ``digits`` significant digits, with ``unit`` after it.

    Examples
    --------
    >>> cell(0.43278060913085936), cell(1308166), cell(None), cell(float("nan")), cell(2.5, unit="km")
    ('0.4328', '1,308,166', '—', '—', '2.5 km')
    >>> cell((0.48, 0.1, 0.0)), cell({"qber_too_high": 2}), cell({}), cell(True)
    ('0.48, 0.1, 0', 'qber_too_high: 2', '—', 'yes')
    """
    text = _bare(value, digits)
    return f"{text} {unit}" if unit and text != MISSING else text


def si(value: float | None, unit: str, *, digits: int = 4) -> str:
    """``value`` with an SI prefix on ``unit`` from kilo up, as people quote clocks and key rates.

    Examples
    --------
    >>> si(2e6, "Hz"), si(269_400.0, "bit/s"), si(182.1, "bit/s"), si(None, "Hz"), si(0.0, "bit/s")
    ('2 MHz', '269.4 kbit/s', '182.1 bit/s', '—', '0 bit/s')
    """
    if value is None or not math.isfinite(value):
        return cell(value, digits=digits, unit=unit)
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{_number(value / factor, digits)} {prefix}{unit}"
    return f"{_number(value, digits)} {unit}"


def _bare(value: object, digits: int) -> str:
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {_bare(v, digits)}" for k, v in value.items()) or MISSING
    if isinstance(value, list | tuple):
        return ", ".join(_bare(v, digits) for v in value) or MISSING
    if hasattr(value, "dtype") and hasattr(value, "item"):
        return _bare(value.item(), digits)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return _number(value, digits)
    return str(value)


def _number(value: float, digits: int) -> str:
    if math.isnan(value):
        return MISSING
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    return f"{value:.{digits}g}"


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
