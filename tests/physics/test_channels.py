"""Fibre channel: loss arithmetic, broadcasting over distances, and the Channel interface."""

from __future__ import annotations

import numpy as np
import pytest

from openqci.physics import (
    Channel,
    FibreChannel,
    InvalidParameterError,
    db_to_transmittance,
    fibre_loss_db,
    fibre_transmittance,
    transmittance_to_db,
)


def test_fibre_at_0_2_db_per_km_loses_a_factor_ten_every_50_km() -> None:
    assert fibre_transmittance([0.0, 50.0, 100.0], 0.2) == pytest.approx([1.0, 0.1, 0.01])


def test_extra_loss_adds_to_the_span() -> None:
    assert float(fibre_loss_db(10.0, 0.2, extra_loss_db=1.5)) == pytest.approx(3.5)


def test_results_keep_the_shape_of_the_distances() -> None:
    grid = np.linspace(0.0, 100.0, 12).reshape(3, 4)
    assert fibre_transmittance(grid).shape == (3, 4)
    assert fibre_transmittance(25.0).shape == ()


def test_db_conversions_are_inverse() -> None:
    loss = np.array([0.0, 3.0, 27.5, 61.0])
    assert transmittance_to_db(db_to_transmittance(loss)) == pytest.approx(loss)


@pytest.mark.parametrize("distance", [-1.0, float("nan"), float("inf")])
def test_negative_or_non_finite_distance_is_refused(distance: float) -> None:
    with pytest.raises(InvalidParameterError, match="distance_km"):
        fibre_transmittance(distance)


def test_fibre_channel_is_a_channel_constant_in_time() -> None:
    channel = FibreChannel(length_km=25.0, attenuation_db_per_km=0.2, extra_loss_db=1.0)
    assert isinstance(channel, Channel)
    times = np.arange(5.0)
    assert channel.loss_db(times) == pytest.approx(np.full(5, 6.0))
    assert channel.transmittance(times) == pytest.approx(np.full(5, 10**-0.6))


def test_fibre_channel_refuses_negative_length() -> None:
    with pytest.raises(InvalidParameterError):
        FibreChannel(length_km=-5.0)
