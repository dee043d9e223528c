"""The free-space link budget: against MODTRAN, the Micius link-efficiency data, and as a Channel."""

from __future__ import annotations

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
    # MODTRAN transmissivity at 850 nm as bundled with SatQuMA (reference notes 5.4): within 0.1 dB.
    assert float(atmospheric_loss_db(elevation_deg, 0.48)) == pytest.approx(modtran_db, abs=0.1)


# Micius link efficiency against range, digitised from Liao et al., Nature 549, 43 (2017), Fig. 3
# (Baidu QCompute, micius2017_link_efficiency.csv; reference notes 5.1). Elevation from the 500 km geometry.
MICIUS_LOSS = [(645, 29.8), (700, 30.5), (800, 30.9), (900, 32.3), (1000, 34.4), (1100, 36.1), (1200, 40.3)]


def _elevation_deg(range_km: float, altitude_km: float = 500.0, radius_km: float = 6371.0) -> float:
    sine = ((radius_km + altitude_km) ** 2 - radius_km**2 - range_km**2) / (2 * radius_km * range_km)
    return float(np.degrees(np.arcsin(sine)))


@pytest.mark.parametrize(("range_km", "published_db"), MICIUS_LOSS)
def test_micius_loss_follows_published_curve(range_km: float, published_db: float) -> None:
    # Ends within 1.5 dB (30 dB at 645 km, 40 dB at 1200 km); the digitised middle is bumpier: 3.5 dB.
    loss = float(link_budget(MICIUS.link, _elevation_deg(range_km), range_km, 1.0).total_db)
    tolerance = 1.5 if range_km in (645, 1200) else 3.5
    assert loss == pytest.approx(published_db, abs=tolerance)


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
    from dataclasses import replace

    with pytest.raises(InvalidLinkError, match="beam_quality_m2"):
        replace(MICIUS.link, beam_quality_m2=0.5)
