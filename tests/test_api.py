"""The Python API of the package: complete, lazy, documented by examples that run, and strict on bad input."""

from __future__ import annotations

import doctest
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import openqci
import openqci.api
from openqci.physics.errors import InvalidParameterError, UnknownPresetError


def test_all_is_sorted_and_every_name_resolves() -> None:
    assert openqci.__all__ == sorted(openqci.__all__)
    for name in openqci.__all__:
        assert getattr(openqci, name) is not None
    assert set(openqci.__all__) <= set(dir(openqci))
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        _ = openqci.nothing_here  # type: ignore[attr-defined]


def test_api_names_match_their_homes() -> None:
    from openqci.physics.presets import get_preset
    from openqci.scenario import load_scenario

    assert openqci.get_preset is get_preset
    assert openqci.load_scenario is load_scenario
    assert openqci.secret_key_rate is openqci.api.secret_key_rate


def test_docstring_examples_run() -> None:
    failures, attempted = doctest.testmod(openqci.api, optionflags=doctest.ELLIPSIS)
    assert attempted >= 20
    assert failures == 0


def _modules_after(statement: str) -> list[str]:
    probe = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    shown = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(shown.stdout)


def test_reading_a_rate_function_loads_no_link_engine() -> None:
    loaded = _modules_after("import openqci; openqci.secret_key_rate; openqci.load_scenario")
    assert not [m for m in loaded if m.split(".")[0] in ("numba", "llvmlite") or m.startswith("openqci.link")]
    assert "matplotlib" not in loaded


def test_presets_and_custom_systems() -> None:
    assert openqci.preset_names() == sorted(openqci.preset_names())
    assert openqci.get_preset("gys2004").name == "gys2004"
    with pytest.raises(UnknownPresetError, match="choose one of"):
        openqci.get_preset("nope")
    system = openqci.make_system("gys2004", misalignment=0.01, repetition_rate_hz=1e9)
    assert (system.misalignment, system.source.repetition_rate_hz) == (0.01, 1e9)
    faster = openqci.secret_key_rate(system, 50.0).secret_key_rate_bps
    assert float(faster) > 500 * float(openqci.secret_key_rate("gys2004", 50.0).secret_key_rate_bps)


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"detector_eff": 0.1}, "unknown device setting detector_eff; choose from: repetition_rate_hz"),
        ({"misalignment": 0.7}, "misalignment: Input should be less than or equal to 0.5"),
        ({"intensities": (0.5, 0.1)}, "intensities and probabilities must be non-empty and of equal length"),
    ],
)
def test_make_system_names_what_to_fix(settings: dict[str, object], words: str) -> None:
    with pytest.raises(InvalidParameterError, match=re.escape(words)):
        openqci.make_system("gys2004", **settings)


def test_rate_options_are_checked() -> None:
    with pytest.raises(InvalidParameterError, match="unknown decoys 'two'; choose one of: infinite"):
        openqci.secret_key_rate("gys2004", 10.0, decoys="two")
    with pytest.raises(InvalidParameterError, match="give a preset's name or a QkdSystem"):
        openqci.secret_key_rate(0.5, 10.0)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="a measured span loss needs a length > 0 km"):
        openqci.get_preset("gys2004").with_span_loss(3.0, 0.0)


def test_run_link_takes_a_custom_system_and_a_measured_loss() -> None:
    system = openqci.make_system("lim2014", detector_efficiency=0.2)
    report = openqci.run_link(system, 25.0, duration_s=0.05, loss_db=4.0, block_bits=1 << 16, rng=7)
    assert report.preset == "lim2014+device"
    assert report.keys_identical is True
    # 4 dB instead of 5 dB, and twice the efficiency: more detections than the preset gets over 25 km
    plain = openqci.run_link("lim2014", 25.0, duration_s=0.05, block_bits=1 << 16, rng=7)
    assert report.detections > 2.2 * plain.detections


def test_the_api_page_examples_run() -> None:
    page = Path(__file__).resolve().parents[1] / "docs" / "api.md"
    failures, attempted = doctest.testfile(str(page), module_relative=False, optionflags=doctest.ELLIPSIS)
    assert attempted >= 20
    assert failures == 0
