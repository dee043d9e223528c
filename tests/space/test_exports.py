"""The public surface of openqci.space: ``__all__`` is sorted and lists every public name."""

from __future__ import annotations

import openqci.space as space


def test_all_is_sorted() -> None:
    assert space.__all__ == sorted(space.__all__, key=lambda n: (not n.isupper(), not n[0].isupper(), n))


def test_all_is_complete() -> None:
    public = {name for name in vars(space) if not name.startswith("_") and name != "annotations"}
    modules = {name for name, value in vars(space).items() if type(value).__name__ == "module"}
    assert set(space.__all__) == public - modules
