"""What twin-field and MDI links share: each end sends to a measuring node halfway along the fibre.

Both protocols' device records check the same figures and see the same channel: one arm is half the
fibre, so a photon that reaches the node's detectors has survived half the link's loss. Kept here once
for :mod:`openqci.physics.twin_field` and :mod:`openqci.physics.mdi`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from openqci.physics.errors import InvalidParameterError
from openqci.physics.validation import require_non_negative, require_positive, require_probability

__all__ = ["arm_efficiency", "check_common_devices"]


def check_common_devices(
    *,
    detector_efficiency: float,
    dark_count_prob: float,
    fibre_attenuation_db_per_km: float,
    repetition_rate_hz: float,
    ec_efficiency: float,
) -> None:
    """Refuse device figures no twin-field or MDI system can have."""
    require_probability("detector_efficiency", detector_efficiency)
    if detector_efficiency <= 0:
        raise InvalidParameterError("detector_efficiency must be > 0")
    require_probability("dark_count_prob", dark_count_prob)
    require_non_negative("fibre_attenuation_db_per_km", fibre_attenuation_db_per_km)
    require_positive("repetition_rate_hz", repetition_rate_hz)
    if not ec_efficiency >= 1.0:
        raise InvalidParameterError(f"ec_efficiency must be >= 1, got {ec_efficiency!r}")


def arm_efficiency(
    detector_efficiency: float, fibre_attenuation_db_per_km: float, distance_km: ArrayLike
) -> NDArray[np.float64]:
    """One arm (half of ``distance_km`` end to end) times the detector efficiency: ``sqrt(eta) eta_d``."""
    distance = require_non_negative("distance_km", distance_km)
    half_loss_db = 0.5 * distance * fibre_attenuation_db_per_km
    return np.asarray(detector_efficiency * 10.0 ** (-half_loss_db / 10.0), dtype=np.float64)
