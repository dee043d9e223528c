"""The package's public names: sorted, complete, and each defined in openqci.kms."""

from __future__ import annotations

import openqci.kms as kms


def test_all_is_sorted_and_exact() -> None:
    assert kms.__all__ == sorted(kms.__all__)
    public = {name for name in vars(kms) if not name.startswith("_") and name != "annotations"}
    modules = {name for name, value in vars(kms).items() if type(value).__name__ == "module"}
    assert set(kms.__all__) == public - modules


def test_every_export_comes_from_the_package() -> None:
    for name in kms.__all__:
        assert getattr(kms, name).__module__.startswith("openqci.kms"), name
