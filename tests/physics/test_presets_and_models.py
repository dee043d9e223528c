"""Presets, device validation, the detection model and BBM92."""

from __future__ import annotations

import numpy as np
import pytest

from openqci.physics import (
    PRESETS,
    Detector,
    InvalidParameterError,
    Protocol,
    UnknownPresetError,
    WeakCoherentSource,
    bbm92_statistics,
    expected_detection,
    get_preset,
    max_distance_km,
    photon_number_yield,
    secret_key_rate,
)


def test_every_preset_names_its_publication() -> None:
    assert {"gys2004", "lim2014", "yuan2018", "micius2017"} <= set(PRESETS)
    for name, system in PRESETS.items():
        assert system.name == name
        assert len(system.reference) > 40


def test_unknown_preset_lists_the_valid_ones() -> None:
    with pytest.raises(UnknownPresetError, match="gys2004, lim2014"):
        get_preset("gys2005")


@pytest.mark.parametrize(
    "build",
    [
        lambda: WeakCoherentSource(1e6, (0.0, 0.1), (0.5, 0.5)),
        lambda: WeakCoherentSource(1e6, (0.5, 0.1), (0.5, 0.6)),
        lambda: WeakCoherentSource(-1.0, (0.5,), (1.0,)),
        lambda: WeakCoherentSource(1e6, (0.1, 0.5), (0.5, 0.5)),
        lambda: Detector(efficiency=1.5, dark_count_prob=0.0),
        lambda: Detector(efficiency=0.1, dark_count_prob=-1e-6),
        lambda: get_preset("gys2004").with_mu(0.0),
    ],
)
def test_unphysical_devices_are_refused(build: object) -> None:
    assert callable(build)
    with pytest.raises(InvalidParameterError):
        build()


def test_gain_and_qber_follow_the_textbook_limits() -> None:
    gys = get_preset("gys2004")
    near = expected_detection(gys, 1.0, 0.5)
    far = expected_detection(gys, 1e-6, 0.5)
    # Close by, QBER is the misalignment; far away, dark counts dominate and QBER goes to 1/2.
    assert float(near.qber) == pytest.approx(gys.misalignment, rel=0.01)
    assert float(far.qber) == pytest.approx(0.5, abs=0.05)
    assert float(far.gain) == pytest.approx(gys.detector.background_yield, rel=0.05)


def test_single_photon_yield_is_channel_times_receiver_efficiency_plus_background() -> None:
    gys = get_preset("gys2004")
    eta = 0.01
    one = photon_number_yield(gys, eta, 1)
    y0 = gys.detector.background_yield
    assert float(one.gain) == pytest.approx(y0 + eta * gys.receiver_efficiency * (1 - y0))


def test_afterpulses_raise_gain_and_errors() -> None:
    lim = get_preset("lim2014")
    quiet = lim.__class__(**{**lim.__dict__, "detector": Detector(0.1, 6e-7, afterpulse_prob=0.0)})
    noisy, clean = expected_detection(lim, 0.1, 0.5), expected_detection(quiet, 0.1, 0.5)
    assert float(noisy.gain) == pytest.approx(float(clean.gain) * 1.04)
    assert float(noisy.qber) > float(clean.qber)


def test_dead_time_saturates_the_count_rate() -> None:
    yuan = get_preset("yuan2018")
    slow = yuan.__class__(**{**yuan.__dict__, "detector": Detector(0.31, 4e-6, 0.044, dead_time_s=100e-9)})
    assert float(expected_detection(slow, 1.0, 0.5).gain) < 0.5 * float(
        expected_detection(yuan, 1.0, 0.5).gain
    )


def test_bbm92_qber_rises_with_pair_number_and_distance() -> None:
    gys = get_preset("gys2004")
    _, low = bbm92_statistics(gys, 0.1, 0.1, 0.01)
    _, high = bbm92_statistics(gys, 0.1, 0.1, 0.5)
    _, far = bbm92_statistics(gys, 1e-5, 1e-5, 0.01)
    assert float(low) < float(high)
    assert float(low) < float(far)
    assert float(low) == pytest.approx(gys.misalignment, abs=0.01)


def test_bbm92_with_the_source_in_the_middle_reaches_further_than_prepare_and_measure() -> None:
    # Ma, Fung, Lo, PRA 76, 012307 (2007): only coincidences count, so dark counts matter far less.
    gys = get_preset("gys2004")
    assert max_distance_km(gys, protocol=Protocol.BBM92) > max_distance_km(gys)


def test_bad_inputs_are_refused_with_the_parameter_named() -> None:
    gys = get_preset("gys2004")
    with pytest.raises(InvalidParameterError, match="distance_km"):
        secret_key_rate(gys, -1.0)
    with pytest.raises(InvalidParameterError, match="mu"):
        secret_key_rate(gys, 10.0, mu=-0.1)
    with pytest.raises(InvalidParameterError, match="epsilon"):
        secret_key_rate(gys, 10.0, block_size=1e6, epsilon=1.0)
    with pytest.raises(InvalidParameterError, match="block_size"):
        secret_key_rate(gys, 10.0, block_size=0.5)


def test_records_are_json_ready() -> None:
    rows = secret_key_rate(get_preset("gys2004"), np.array([10.0, 20.0]), block_size=1e8).records()
    assert [row["distance_km"] for row in rows] == [10.0, 20.0]
    assert rows[0]["block_size"] == 1e8
    assert rows[0]["epsilon"] == 1e-10
