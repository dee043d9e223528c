"""Background light at the receiver: sky radiance turned into extra clicks per detection window.

A receiver of aperture area ``A`` and field of view ``Omega`` behind a filter of width ``d_lambda`` collects
``N = L A Omega d_lambda / (h c / lambda)`` photons per second from a sky of spectral radiance ``L``
(W m^-2 sr^-1 nm^-1); after the receiver optics and the detectors they add ``N eta`` clicks per second,
spread over the two detectors of the measured basis. Counted over one detection window they add to each
detector's dark-count probability (Miao et al., "Background noise of satellite-to-ground quantum key
distribution", New J. Phys. 7, 215 (2005), Eq. 1; Bourgoin et al., New J. Phys. 15, 023006 (2013), Sec. 4).
"""

from __future__ import annotations

import math

__all__ = ["PLANCK_J_S", "SPEED_OF_LIGHT_M_S", "background_count_prob"]

PLANCK_J_S = 6.626_070_15e-34
SPEED_OF_LIGHT_M_S = 299_792_458.0


def background_count_prob(
    radiance_w_m2_sr_nm: float,
    *,
    receiver_aperture_m: float,
    field_of_view_urad: float,
    filter_bandwidth_nm: float,
    wavelength_nm: float,
    receiver_transmittance: float,
    window_s: float,
) -> float:
    """Probability that sky light fires one given detector (of two) within one detection window."""
    area_m2 = math.pi * (receiver_aperture_m / 2.0) ** 2
    solid_angle_sr = math.pi * (field_of_view_urad * 1e-6 / 2.0) ** 2
    photon_j = PLANCK_J_S * SPEED_OF_LIGHT_M_S / (wavelength_nm * 1e-9)
    photons_per_s = radiance_w_m2_sr_nm * area_m2 * solid_angle_sr * filter_bandwidth_nm / photon_j
    mean_clicks = photons_per_s * receiver_transmittance * window_s / 2.0
    return -math.expm1(-mean_clicks)
