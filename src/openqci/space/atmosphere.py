"""The atmosphere's share of a downlink: extinction against elevation and turbulence-limited collection.

Extinction follows Beer-Lambert through the air mass, ``loss = zenith_loss_db * X(elevation)``, with the air
mass ``X`` of Kasten and Young, Appl. Opt. 28, 4735 (1989), which stays finite at the horizon. With the zenith
loss of a MODTRAN rural-aerosol atmosphere this reproduces MODTRAN's own curve within 0.1 dB down to
10 degrees (the transmissivities distributed with SatQuMA, ``channel/atmosphere/MODTRAN_data.py`` in
cnqo-qcomms/SatQuMA; checked in ``tests/space/test_channel.py``).

Turbulence hardly spreads a downlink beam (the turbulent layer is at the receiver's end of a 500+ km path) but
it blurs the image at the receiver: the long-exposure spot has a FWHM of ``0.98 lambda / r0`` (Fried 1966),
with ``r0`` shrinking as ``sin(elevation)^(3/5)`` and growing as ``lambda^(6/5)``. A receiver whose field stop
(needed to keep the sky background out) is narrower than the blur loses the part outside it; that loss is
modelled with a Gaussian of the same FWHM.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["airmass", "atmospheric_loss_db", "fried_parameter_m", "seeing_loss_db"]


def airmass(elevation_deg: ArrayLike) -> NDArray[np.float64]:
    """Relative air mass at ``elevation_deg`` (Kasten and Young 1989; 1 at zenith, ~38 at the horizon)."""
    elevation = np.clip(np.asarray(elevation_deg, dtype=np.float64), 0.0, 90.0)
    return np.asarray(
        1.0 / (np.sin(np.deg2rad(elevation)) + 0.50572 * (elevation + 6.07995) ** -1.6364), dtype=np.float64
    )


def atmospheric_loss_db(elevation_deg: ArrayLike, zenith_loss_db: float) -> NDArray[np.float64]:
    """Extinction loss (dB) along the slant path, from the loss straight up."""
    return np.asarray(zenith_loss_db * airmass(elevation_deg), dtype=np.float64)


def fried_parameter_m(
    elevation_deg: ArrayLike, wavelength_nm: float, r0_zenith_500nm_m: float
) -> NDArray[np.float64]:
    """Fried parameter ``r0`` (m) along the slant path, from the site's zenith value at 500 nm."""
    scale = (wavelength_nm / 500.0) ** 1.2
    return np.asarray(r0_zenith_500nm_m * scale / airmass(elevation_deg) ** 0.6, dtype=np.float64)


def seeing_loss_db(
    elevation_deg: ArrayLike, wavelength_nm: float, r0_zenith_500nm_m: float, field_of_view_urad: float
) -> NDArray[np.float64]:
    """Loss (dB) of turbulence-blurred light outside a field stop of full angle ``field_of_view_urad``."""
    fwhm_rad = (
        0.98 * wavelength_nm * 1e-9 / fried_parameter_m(elevation_deg, wavelength_nm, r0_zenith_500nm_m)
    )
    radius_rad = fwhm_rad / np.sqrt(2.0 * np.log(2.0))  # 1/e^2 radius of a Gaussian of that FWHM
    half_fov_rad = field_of_view_urad * 1e-6 / 2.0
    captured = -np.expm1(-2.0 * half_fov_rad**2 / radius_rad**2)
    return np.asarray(-10.0 * np.log10(captured), dtype=np.float64)
