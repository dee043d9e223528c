"""Turbulence fading of a downlink: how the transmittance scatters around the link budget's mean.

The link budget (:mod:`openqci.space.channel`) gives the mean transmittance; turbulence near the ground makes
the received power twinkle around it. For a downlink the beam arrives as a plane wave (the turbulent layer is
the last ~20 km of a 500+ km path), so the fading is scintillation, not beam wander, and its strength is fixed
by the turbulence profile and the receiving aperture:

* the refractive-index structure constant ``Cn2(h)`` follows the Hufnagel-Valley model,
  ``Cn2 = 0.00594 (v/27)^2 (1e-5 h)^10 exp(-h/1000) + 2.7e-16 exp(-h/1500) + A exp(-h/100)``, with the
  "5/7" reference values ``A = 1.7e-14 m^-2/3`` and ``v = 21 m/s`` (so named because they give ``r0 = 5 cm``
  and an isoplanatic angle of 7 urad at 500 nm); heights are counted above the station;
* the plane-wave Rytov variance of the slant path is ``2.25 k^(7/6) sec(z)^(11/6) int Cn2(h) h^(5/6) dh``;
* a receiver of diameter ``D`` averages the twinkle over its aperture; for a downlink of slant range ``L`` the
  weak-fluctuation scintillation index is ``8.70 k^(7/6) L^(5/6) sec(z) Re int Cn2(h) {[k D^2 / (16 L)
  + i h sec(z) / L]^(5/6) - [k D^2 / (16 L)]^(5/6)} dh``, which is the Rytov variance when ``D -> 0``.

All three are from Andrews and Phillips, *Laser Beam Propagation through Random Media*, 2nd ed. (SPIE, 2005),
Ch. 12 (the HV profile, and the downlink's scintillation with and without aperture averaging; written here
with the slant range in place of ``(H - h0) sec(z)``). The path's stretch through the turbulent layer,
``sec(z)``, is the air mass of :mod:`openqci.space.atmosphere`, as for the Fried parameter there.

In weak fluctuations the received irradiance is log-normal (the same chapter), so the transmittance is
``eta = exp(X)`` with ``X`` normal of variance ``s^2 = ln(1 + sigma_I^2)``. A log-normal law puts weight on
``eta > 1``, which no passive channel can have; :class:`LogNormalFading` truncates it at ``eta = 1`` and
moves its location so that the truncated law still has the budget's mean (for a 30 dB link the truncation
removes less than 1e-15 of the mass even at ``sigma_I^2 = 1``: it only matters for near-lossless links).
The weak-fluctuation formulas hold while the Rytov variance is below ~1 (above ~20 degrees of elevation for
HV 5/7 at 850 nm); below, they overestimate a small receiver's index, whose true value saturates near 1, but
a metre-class telescope averages it down to a few per cent even at 10 degrees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import log_ndtr, ndtr, ndtri

from openqci.space.atmosphere import airmass
from openqci.space.errors import InvalidLinkError

__all__ = [
    "HV57",
    "HufnagelValley",
    "LogNormalFading",
    "rytov_variance",
    "scintillation_index",
]

# Heights (m above the station) for the profile integrals: geometric steps resolve the 100 m ground layer and
# the tropopause bump of the wind term alike; above 40 km the HV profile adds nothing measurable.
_HEIGHTS_M = np.concatenate([[0.0], np.geomspace(1e-2, 4e4, 4000)])


@dataclass(frozen=True)
class HufnagelValley:
    """A Hufnagel-Valley turbulence profile over the station (Andrews and Phillips 2005, Ch. 12).

    Attributes
    ----------
    ground_cn2_m23
        ``A``, the ground-layer ``Cn2`` (m^-2/3); 1.7e-14 in the HV 5/7 model.
    rms_wind_m_s
        ``v``, the RMS high-altitude wind that sets the tropopause term; 21 m/s in HV 5/7.
    strength
        A multiplier of the whole profile, for sites better or worse than the model; 0 turns turbulence off.
    """

    ground_cn2_m23: float = 1.7e-14
    rms_wind_m_s: float = 21.0
    strength: float = 1.0

    def __post_init__(self) -> None:
        for name in ("ground_cn2_m23", "rms_wind_m_s", "strength"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise InvalidLinkError(f"{name} must be a finite number >= 0, got {value!r}")

    def cn2(self, height_m: ArrayLike) -> NDArray[np.float64]:
        """Refractive-index structure constant (m^-2/3) at ``height_m`` above the station."""
        h = np.asarray(height_m, dtype=np.float64)
        wind = 0.00594 * (self.rms_wind_m_s / 27.0) ** 2 * (1e-5 * h) ** 10 * np.exp(-h / 1000.0)
        profile = wind + 2.7e-16 * np.exp(-h / 1500.0) + self.ground_cn2_m23 * np.exp(-h / 100.0)
        return np.asarray(self.strength * profile, dtype=np.float64)

    def fried_parameter_m(self, elevation_deg: ArrayLike, wavelength_nm: float) -> NDArray[np.float64]:
        """Plane-wave Fried parameter ``(0.423 k^2 sec(z) int Cn2 dh)^(-3/5)`` (m); ``inf`` if still.

        HV 5/7 gives ~5 cm at zenith and 500 nm, as its name says (checked in the tests).
        """
        k = 2.0 * math.pi / (wavelength_nm * 1e-9)
        column = float(np.trapezoid(self.cn2(_HEIGHTS_M), _HEIGHTS_M))
        with np.errstate(divide="ignore"):
            return np.asarray((0.423 * k**2 * airmass(elevation_deg) * column) ** -0.6, dtype=np.float64)

    def scaled_to_fried_parameter(self, r0_zenith_500nm_m: float) -> HufnagelValley:
        """The same profile shape, scaled to give ``r0_zenith_500nm_m`` at zenith and 500 nm.

        Ties the fading to a link's seeing: ``r0`` goes as the integrated ``Cn2`` to the power -3/5.
        """
        if not (math.isfinite(r0_zenith_500nm_m) and r0_zenith_500nm_m > 0):
            raise InvalidLinkError(f"r0_zenith_500nm_m must be > 0, got {r0_zenith_500nm_m!r}")
        unit = HufnagelValley(self.ground_cn2_m23, self.rms_wind_m_s, 1.0)
        r0_unit = float(unit.fried_parameter_m(90.0, 500.0))
        return HufnagelValley(
            self.ground_cn2_m23, self.rms_wind_m_s, (r0_unit / r0_zenith_500nm_m) ** (5 / 3)
        )


HV57 = HufnagelValley()
"""The Hufnagel-Valley 5/7 profile: ``A = 1.7e-14 m^-2/3``, ``v = 21 m/s``."""


def rytov_variance(
    profile: HufnagelValley, elevation_deg: ArrayLike, wavelength_nm: float
) -> NDArray[np.float64]:
    """Plane-wave Rytov variance of the slant path (a point receiver's index in weak turbulence)."""
    k = 2.0 * math.pi / (wavelength_nm * 1e-9)
    moment = float(np.trapezoid(profile.cn2(_HEIGHTS_M) * _HEIGHTS_M ** (5 / 6), _HEIGHTS_M))
    return np.asarray(2.25 * k ** (7 / 6) * airmass(elevation_deg) ** (11 / 6) * moment, dtype=np.float64)


def scintillation_index(
    profile: HufnagelValley,
    elevation_deg: ArrayLike,
    slant_range_km: ArrayLike,
    wavelength_nm: float,
    receiver_aperture_m: float,
) -> NDArray[np.float64]:
    """Aperture-averaged scintillation index ``sigma_I^2`` of a downlink (weak fluctuations; see the module).

    Broadcasts over elevation and slant range; ``receiver_aperture_m = 0`` gives the Rytov variance.
    """
    if not (math.isfinite(receiver_aperture_m) and receiver_aperture_m >= 0):
        raise InvalidLinkError(f"receiver_aperture_m must be >= 0, got {receiver_aperture_m!r}")
    elevation, range_km = np.broadcast_arrays(
        np.asarray(elevation_deg, dtype=np.float64), np.asarray(slant_range_km, dtype=np.float64)
    )
    k = 2.0 * math.pi / (wavelength_nm * 1e-9)
    stretch = airmass(elevation)[..., None]
    length_m = range_km[..., None] * 1e3
    fresnel = k * receiver_aperture_m**2 / (16.0 * length_m)
    phase = (fresnel + 1j * _HEIGHTS_M * stretch / length_m) ** (5 / 6) - fresnel ** (5 / 6)
    integral = np.trapezoid(profile.cn2(_HEIGHTS_M) * phase.real, _HEIGHTS_M, axis=-1)
    index = 8.70 * k ** (7 / 6) * length_m[..., 0] ** (5 / 6) * stretch[..., 0] * integral
    return np.asarray(np.maximum(index, 0.0), dtype=np.float64)


@dataclass(frozen=True)
class LogNormalFading:
    """Log-normal transmittance fading, truncated at 1, with a given mean at every point of an array.

    ``eta = exp(X)``, ``X`` normal with ``ln(1 + scintillation_index)`` as variance, conditioned on
    ``X <= 0``; its location is solved so that ``E[eta] = mean``. Where the index is 0 (or the mean is 0 or
    1) the law is a point mass at the mean.

    Attributes
    ----------
    mean
        The link budget's mean transmittance, in [0, 1], any shape.
    scintillation_index
        ``sigma_I^2`` of the untruncated law, broadcast against ``mean``; the truncated law's own index is at
        most this (equal unless the mean is close to 1).
    """

    mean: NDArray[np.float64]
    scintillation_index: NDArray[np.float64]

    def __post_init__(self) -> None:
        mean, index = np.broadcast_arrays(
            np.asarray(self.mean, dtype=np.float64), np.asarray(self.scintillation_index, dtype=np.float64)
        )
        if not np.all((mean >= 0) & (mean <= 1)):
            raise InvalidLinkError("mean transmittance must lie in [0, 1]")
        if not np.all(np.isfinite(index) & (index >= 0)):
            raise InvalidLinkError("scintillation index must be a finite number >= 0")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "scintillation_index", index)

    @cached_property
    def log_sigma(self) -> NDArray[np.float64]:
        """Standard deviation ``s`` of ``ln eta`` before truncation."""
        return np.asarray(np.sqrt(np.log1p(self.scintillation_index)), dtype=np.float64)

    @cached_property
    def _location(self) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        """Location of ``ln eta`` that gives the mean after truncation, and where the law is a point mass."""
        s, mean = self.log_sigma, self.mean
        point = (s == 0) | (mean <= 0) | (mean >= 1)
        s_safe, log_mean = np.where(point, 1.0, s), np.log(np.where(point, 0.5, mean))

        def excess(m: NDArray[np.float64]) -> NDArray[np.float64]:
            # ln E[eta | X <= 0] - ln(mean): increasing in m, <= 0 at the untruncated location.
            upper = -m / s_safe
            return np.asarray(m + s_safe**2 / 2 + log_ndtr(upper - s_safe) - log_ndtr(upper) - log_mean)

        low = log_mean - s_safe**2 / 2
        high = low + 1.0 + s_safe
        for _ in range(64):  # widen the bracket until the truncated mean overshoots
            short = excess(high) < 0
            if not np.any(short):
                break
            high = np.where(short, low + 2.0 * (high - low), high)
        for _ in range(80):
            middle = (low + high) / 2
            over = excess(middle) >= 0
            low, high = np.where(over, low, middle), np.where(over, middle, high)
        location = (low + high) / 2
        # A location far above 0 squeezes the law into ~s^2/m below 1: no different from a point mass there.
        point = point | (log_ndtr(-location / s_safe) < -650.0)
        return np.asarray(np.where(point, 0.0, location), dtype=np.float64), np.asarray(point)

    @property
    def log_location(self) -> NDArray[np.float64]:
        """Location ``m`` of ``ln eta``: ``ln mean - s^2 / 2`` unless truncated; 0 at point masses."""
        return self._location[0]

    def quadrature(self, nodes: int = 32) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Transmittance nodes (shape ``mean.shape + (nodes,)``) and weights (shape ``(nodes,)``, sum 1).

        The law is cut into ``nodes`` slices of equal probability, each represented by its own conditional
        mean: every node lies inside the law's support (so in [0, 1]) and the weighted sum of the nodes is the
        mean exactly, the property the averaged detection counts rest on. The slices keep most of the
        variance (98.6 % of it with 32 nodes, where the truncation does not bite) and lose only the spread
        within each slice.
        """
        if nodes < 1:
            raise InvalidLinkError(f"nodes must be >= 1, got {nodes!r}")
        location, point = self._location
        s = np.where(point, 1.0, self.log_sigma)[..., None]
        top = (-location / np.where(point, 1.0, self.log_sigma))[..., None]
        kept = ndtr(top)
        edges = ndtri(np.linspace(0.0, 1.0, nodes + 1) * kept)
        edges[..., -1] = top[..., 0]
        lower, upper = edges[..., :-1] - s, edges[..., 1:] - s
        # Probability of each tilted slice, from whichever tail keeps the digits.
        tilted = np.where(lower > 0, ndtr(-lower) - ndtr(-upper), ndtr(upper) - ndtr(lower))
        scale = np.exp(location[..., None] + s**2 / 2)
        eta = scale * tilted * nodes / kept
        total = np.sum(eta, axis=-1, keepdims=True) / nodes
        with np.errstate(invalid="ignore", divide="ignore"):
            eta = np.where(total > 0, eta * (self.mean[..., None] / total), eta)
        eta = np.where(point[..., None], self.mean[..., None], np.clip(eta, 0.0, 1.0))
        return np.asarray(eta, dtype=np.float64), np.full(nodes, 1.0 / nodes)

    def sample(self, rng: np.random.Generator, size: int) -> NDArray[np.float64]:
        """``size`` independent draws at every point, shape ``mean.shape + (size,)``; always in [0, 1]."""
        location, point = self._location
        s = np.where(point, 1.0, self.log_sigma)[..., None]
        kept = ndtr(-location[..., None] / s)
        uniform = rng.random((*self.mean.shape, size))
        draws = np.exp(np.minimum(location[..., None] + s * ndtri(uniform * kept), 0.0))
        return np.asarray(np.where(point[..., None], self.mean[..., None], draws), dtype=np.float64)

    def pdf(self, eta: ArrayLike) -> NDArray[np.float64]:
        """Probability density at transmittance ``eta`` (broadcast against ``mean``); 0 outside (0, 1].

        Undefined (``nan``) where the law is a point mass.
        """
        location, point = self._location
        s = np.where(point, np.nan, self.log_sigma)
        x = np.asarray(eta, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (np.log(x) - location) / s
            density = np.exp(-(z**2) / 2) / (math.sqrt(2 * math.pi) * s * x * ndtr(-location / s))
        return np.asarray(np.where((x > 0) & (x <= 1), density, np.where(point, np.nan, 0.0)))
