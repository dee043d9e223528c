"""The repeaterless bound (Pirandola et al., Nat. Commun. 8, 15043 (2017)) at known transmittances."""

from __future__ import annotations

import pytest

from openqci.physics import InvalidParameterError, Protocol, get_preset, plob_bound, secret_key_rate
from tests.physics import reference_tables

# Bits per channel use over fibre of 0.2 dB/km. Recomputed, not read from a table: the bound -log2(1 - eta)
# that Pirandola et al. state for the pure-loss channel (abstract; arXiv 1510.08863), evaluated at
# eta = 10^(-0.02 L) by tests/physics/reference_tables.py (`python -m tests.physics.reference_tables plob`).
PLOB_TABLE = [
    (50.0, 0.152),
    (100.0, 1.45e-2),
    (200.0, 1.44e-4),
    (300.0, 1.44e-6),
    (500.0, 1.44e-10),
    (830.0, 3.62e-17),
    (1002.0, 1.32e-20),
]


@pytest.mark.parametrize(("distance_km", "expected"), PLOB_TABLE)
def test_plob_over_standard_fibre(distance_km: float, expected: float) -> None:
    result = secret_key_rate(get_preset("lim2014"), distance_km, protocol=Protocol.PLOB)
    assert float(result.secret_key_rate_per_pulse) == pytest.approx(expected, rel=0.02)


def test_the_recomputed_table_is_what_the_reference_script_prints() -> None:
    assert reference_tables.plob_table() == PLOB_TABLE


def test_plob_does_not_underflow_at_high_loss() -> None:
    assert float(plob_bound(1e-20)) == pytest.approx(1e-20 / 0.6931471805599453, rel=1e-9)


def test_plob_of_a_lossless_channel_is_unbounded_and_transmittance_is_checked() -> None:
    assert float(plob_bound(1.0)) == float("inf")
    with pytest.raises(InvalidParameterError):
        plob_bound(1.5)
