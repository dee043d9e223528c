"""Per-pass key of the mission presets against the published passes.

Split as the presets' comments say (openqci/space/presets.py): ``test_calibration_...`` checks the numbers a
preset's fitted [F] parameters were chosen to reproduce, ``test_validation_...`` numbers the fit did not use.
Micius: Liao et al., Nature 549, 43 (2017), arXiv 1707.00542; the numbers tagged [Q] are sentences of its
text, read as quoted word for word in a public third-party source.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from openqci.space.errors import InvalidWindowError, UnknownMissionError
from openqci.space.pass_key import pass_key, pass_profile
from openqci.space.presets import get_mission
from openqci.space.stations import GroundStation
from tests.space.helpers import analytic_track

MICIUS = get_mission("micius2017")
XINGLONG = GroundStation("Xinglong", 40.3956, 117.575, 900.0, aperture_m=MICIUS.ground_aperture_m)
# The Micius pass of 19 December 2016: 273 s of key [Q]; 645 km at its closest and ~1200 km at both ends as
# digitised by a third party from the paper's plot (QNET, Baidu QCompute,
# Extensions/QuantumNetwork/examples/data/micius2017_track.csv: 1196 km at the start, 645 km after 131 s,
# 274 s in all; a weak source). At 500 km that is a pass culminating at 49 deg, used above ~20 deg.
MICIUS_PASS = analytic_track(49.0, 19.8)


def test_micius_track_matches_the_published_pass() -> None:
    assert MICIUS_PASS.slant_range_km.min() == pytest.approx(645.0, rel=0.01)
    assert MICIUS_PASS.slant_range_km[0] == pytest.approx(1196.0, rel=0.01)
    assert MICIUS_PASS.time_s[-1] == pytest.approx(273.0, rel=0.03)


def test_calibration_micius_loss_at_the_ends_of_the_pass() -> None:
    # The fitted ends of the digitised link-efficiency curve: ~30 dB at 645 km, ~40 dB at 1200 km.
    profile = pass_profile(MICIUS, XINGLONG, MICIUS_PASS)
    closest = int(np.argmin(MICIUS_PASS.slant_range_km))
    assert profile.loss_db[closest] == pytest.approx(30.0, abs=1.5)
    assert profile.loss_db[0] == pytest.approx(40.0, abs=1.5)


def test_validation_micius_sifted_rate_falls_from_12_to_1_kbps() -> None:
    # [Q] "The sifted key rate decrease from ~12 kbit/s at 645 km to ~1 kbit/s at 1200 km". Not fitted.
    # "~1 kbit/s" has one significant figure, 0.5 to 1.5 kbit/s: 50 %. At 645 km, 35 % is 1.3 dB of link
    # loss, a little less than the 1.5 dB the calibration test allows the fitted loss at the ends.
    profile = pass_profile(MICIUS, XINGLONG, MICIUS_PASS)
    closest = int(np.argmin(MICIUS_PASS.slant_range_km))
    assert profile.sifted_rate_bps[closest] == pytest.approx(12_000.0, rel=0.35)
    assert profile.sifted_rate_bps[0] == pytest.approx(1_000.0, rel=0.5)


def test_validation_micius_counts_of_the_pass() -> None:
    # [Q] "the ground station collected 3,551,136 detection events, and thereof 1,671,072 bits of sifted keys"
    # over the 273 s pass. Not fitted. Counts scale with the transmittance, and 25 % is 1 dB of link loss, the
    # order by which the fitted loss departs from the digitised curve over the pass (0.2 dB at 645 km, 1.3 dB
    # at 1200 km, up to 2.2 dB between). The model: 3.11e6 detections, 1.55e6 sifted bits.
    key = pass_key(MICIUS, XINGLONG, [MICIUS_PASS])
    assert key.detections == pytest.approx(3_551_136, rel=0.25)
    assert key.sifted_bits == pytest.approx(1_671_072, rel=0.25)


def test_validation_micius_key_of_the_pass() -> None:
    # [Q] "we calculate secure final key of 300,939 bits when the statistical failure probability is set to be
    # 10-9". Not fitted. Tolerance a factor 1.5: 1 dB of link loss moves the key by 28 %, and the paper's
    # error-correction leakage and finite-size method are not printed (f from 1.1 to 1.3 moves it by +3 % to
    # -7 %). The model: ~286,000 bits.
    key = pass_key(MICIUS, XINGLONG, [MICIUS_PASS])
    assert 300_939 / 1.5 < key.secret_key_bits < 300_939 * 1.5
    assert key.sifted_bits > key.secret_key_bits
    # Consistency, not validation: the text's average QBER is 1.1 % [Q], but the misalignment that sets most
    # of the model's QBER (1 %) is remembered [M], not published.
    assert 0.005 < key.qber < 0.02


def test_calibration_jinan1_key_of_a_high_pass() -> None:
    # Li et al., Nature 640, 47 (2025), abstract: up to 1.07 Mbit of secure key in a single pass. The jinan1
    # preset's [F] parameters were chosen so that a high pass (culminating at 85 deg, used above 10 deg)
    # gives that, so this checks the fit holds (within 35 %), not the model; nothing outside the fit was
    # published to validate against.
    mission = get_mission("jinan1")
    station = GroundStation("portable", 36.7, 117.1, 50.0, aperture_m=mission.ground_aperture_m)
    key = pass_key(mission, station, [analytic_track(85.0, 10.0)])
    assert key.secret_key_bits == pytest.approx(1.07e6, rel=0.35)


def test_daylight_kills_the_key() -> None:
    day = replace(MICIUS_PASS, sun_elevation_deg=np.full_like(MICIUS_PASS.time_s, 30.0))
    key = pass_key(MICIUS, XINGLONG, [day])
    assert key.secret_key_bits == 0
    assert key.qber > 0.1


def test_aggregating_passes_beats_separate_blocks() -> None:
    low = analytic_track(25.0, 15.0)
    alone = pass_key(MICIUS, XINGLONG, [low]).secret_key_bits * 3
    together = pass_key(MICIUS, XINGLONG, [low, low, low])
    assert together.passes == 3
    assert together.secret_key_bits > alone


def test_no_track_and_unknown_mission_are_refused() -> None:
    with pytest.raises(InvalidWindowError):
        pass_key(MICIUS, XINGLONG, [])
    with pytest.raises(UnknownMissionError, match="jinan1, micius2017"):
        get_mission("sputnik")
