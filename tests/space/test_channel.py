"""The free-space link budget: against MODTRAN, the Micius link measurements, and as a Channel.

The Micius checks are split as the preset's comment says: ``test_calibration_...`` on the two loss values
its fitted [F] parameters were chosen to reproduce, ``test_validation_...`` on numbers the fit did not use.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openqci.physics.channels import Channel
from openqci.space.atmosphere import atmospheric_loss_db
from openqci.space.channel import FreeSpaceChannel, geometric_loss_db, link_budget
from openqci.space.errors import InvalidLinkError
from openqci.space.presets import get_mission
from tests.space.helpers import analytic_track

MICIUS = get_mission("micius2017")


@pytest.mark.parametrize(
    ("elevation_deg", "modtran_db"), [(90, 0.48), (45, 0.68), (30, 0.96), (20, 1.39), (15, 1.83), (10, 2.68)]
)
def test_extinction_follows_modtran_at_850_nm(elevation_deg: float, modtran_db: float) -> None:
    # Published data: MODTRAN transmissivity against elevation at 850 nm (500 km to sea level) as distributed
    # with SatQuMA, the software of Sidhu et al., npj Quantum Inf. 8, 18 (2022): cnqo-qcomms/SatQuMA,
    # channel/atmosphere/MODTRAN_data.py, 850 nm column (0.895181 at 90 deg ... 0.539028 at 10 deg), in dB
    # here. The 90 deg value is the model's input, so that row only checks that the air mass is 1 there.
    # Within 0.1 dB.
    assert float(atmospheric_loss_db(elevation_deg, 0.48)) == pytest.approx(modtran_db, abs=0.1)


# Micius link loss (transmitter output to detector input) against range, as digitised by a third party from
# the plot of link efficiency against distance in Liao et al., Nature 549, 43 (2017): QNET, Baidu QCompute,
# Extensions/QuantumNetwork/examples/data/micius2017_link_efficiency.csv, its values at these ranges. A weak
# source (see the comment on MICIUS2017 in openqci/space/presets.py). Elevation from the 500 km geometry.
MICIUS_LOSS_FITTED = [(645, 29.8), (1200, 40.3)]
MICIUS_LOSS_BETWEEN = [(700, 30.5), (800, 30.9), (900, 32.3), (1000, 34.4), (1100, 36.1)]


def _elevation_deg(range_km: float, altitude_km: float = 500.0, radius_km: float = 6371.0) -> float:
    sine = ((radius_km + altitude_km) ** 2 - radius_km**2 - range_km**2) / (2 * radius_km * range_km)
    return float(np.degrees(np.arcsin(sine)))


def _loss_db(range_km: float) -> float:
    return float(link_budget(MICIUS.link, _elevation_deg(range_km), range_km, 1.0).total_db)


@pytest.mark.parametrize(("range_km", "digitised_db"), MICIUS_LOSS_FITTED)
def test_calibration_micius_loss_at_the_fitted_ends(range_km: float, digitised_db: float) -> None:
    # The preset's [F] link parameters were chosen to land on these two points: this checks the fit holds.
    assert _loss_db(range_km) == pytest.approx(digitised_db, abs=1.5)


@pytest.mark.parametrize(("range_km", "digitised_db"), MICIUS_LOSS_BETWEEN)
def test_validation_micius_loss_between_the_fitted_ends(range_km: float, digitised_db: float) -> None:
    # Not used by the fit. The digitised curve swings by up to 2.6 dB where the geometry moves the loss by
    # 1 dB (29.2 to 31.9 dB between 645 and 720 km), and the model's smooth curve lies 0.5-2.2 dB above its
    # points here: 3.5 dB checks the shape of the curve between the fitted ends, not its level.
    assert _loss_db(range_km) == pytest.approx(digitised_db, abs=3.5)


def test_validation_micius_loss_split_at_1200_km() -> None:
    # Liao et al. 2017, text of arXiv 1707.00542 [Q]: at 1200 km the loss due to atmospheric absorption and
    # turbulence is 3 to 8 dB, and the loss due to pointing error less than 3 dB. The fit used only the total
    # loss, so these check how the model splits it; the tolerance is the paper's own range. The paper's
    # estimate of 22 dB of diffraction at 1200 km is not reproduced (18.7 dB here; see
    # openqci/space/presets.py).
    budget = link_budget(MICIUS.link, _elevation_deg(1200.0), 1200.0, 1.0)
    assert 3.0 <= float(budget.atmosphere_db + budget.turbulence_db) <= 8.0
    steady = replace(MICIUS.link, pointing_jitter_urad=0.0)
    pointing_db = float(budget.geometric_db) - float(geometric_loss_db(steady, 1200.0, 1.0))
    assert 0.0 < pointing_db < 3.0


def test_far_field_spread_is_inverse_square() -> None:
    near, far = geometric_loss_db(MICIUS.link, np.array([2000.0, 4000.0]), 0.01)
    assert far - near == pytest.approx(20 * np.log10(2.0), abs=0.01)


@settings(max_examples=40, deadline=None)
@given(
    elevation=st.floats(5.0, 90.0),
    near_km=st.floats(300.0, 3000.0),
    extra_km=st.floats(1.0, 2000.0),
)
def test_loss_grows_with_range_at_fixed_elevation(elevation: float, near_km: float, extra_km: float) -> None:
    losses = link_budget(MICIUS.link, elevation, np.array([near_km, near_km + extra_km]), 1.0).total_db
    assert losses[1] > losses[0]


def test_channel_interface_and_outside_the_pass() -> None:
    track = analytic_track(49.0, 20.0)
    channel = FreeSpaceChannel(track, MICIUS.link, 1.0)
    assert isinstance(channel, Channel)
    inside = channel.transmittance(track.time_s)
    assert inside.shape == track.time_s.shape
    assert np.all((inside > 0) & (inside < 1))
    assert channel.transmittance(np.array([-5.0, track.time_s[-1] + 5]))[0] == 0.0
    assert np.allclose(channel.loss_db(track.time_s), channel.budget().total_db)


def test_impossible_beam_is_refused() -> None:
    with pytest.raises(InvalidLinkError, match="beam_quality_m2"):
        replace(MICIUS.link, beam_quality_m2=0.5)
