"""The free-space downlink: a link budget over slant range and elevation, and the channel it makes.

Loss in dB is a sum of terms, each with its own physics:

* diffraction and pointing: a Gaussian beam of waist ``w0`` (the transmit aperture's radius) and beam quality
  ``M^2`` spreads to ``w(L) = w0 sqrt(1 + (L / z_R)^2)``, ``z_R = pi w0^2 / (M^2 lambda)``; a pointing
  jitter of ``sigma`` per axis widens the time-averaged spot to ``w_eff^2 = w^2 + 4 sigma^2 L^2``, and a
  receiver of radius ``a`` collects ``1 - exp(-2 a^2 / w_eff^2)`` (Saleh and Teich, *Fundamentals of
  Photonics*, Ch. 3; the pointing average as in Bourgoin et al., New J. Phys. 15, 023006 (2013), Sec. 3);
* the atmosphere: extinction through the air mass and the turbulent blur outside the field stop
  (:mod:`openqci.space.atmosphere`);
* optics: fixed transmitter and receiver losses as published, up to the detectors (whose efficiency belongs to
  the QKD system's detector model).

The budget is the mean transmittance. A link with a turbulence profile also fades around it: scintillation
through the profile, averaged over the receiving aperture (:mod:`openqci.space.turbulence`), makes the
transmittance log-normal with that mean (:func:`link_fading`).

:class:`FreeSpaceChannel` evaluates the budget once on a sampled pass and answers the physics
:class:`~openqci.physics.channels.Channel` questions by interpolating in time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from openqci.physics.channels import db_to_transmittance
from openqci.space.atmosphere import atmospheric_loss_db, seeing_loss_db
from openqci.space.errors import InvalidLinkError
from openqci.space.passes import PassTrack
from openqci.space.turbulence import HufnagelValley, LogNormalFading, scintillation_index

__all__ = [
    "FreeSpaceChannel",
    "FreeSpaceLink",
    "LinkBudget",
    "geometric_loss_db",
    "link_budget",
    "link_fading",
]


@dataclass(frozen=True)
class FreeSpaceLink:
    """What fixes a downlink's loss apart from the geometry and the receiving aperture.

    Attributes
    ----------
    wavelength_nm
        Signal wavelength.
    transmitter_aperture_m
        Diameter of the transmit telescope; the beam waist is its radius.
    beam_quality_m2
        ``M^2`` of the transmitted beam (1 for a perfect Gaussian); widens the far-field divergence.
    pointing_jitter_urad
        RMS pointing error per axis of the transmitter.
    zenith_loss_db
        Atmospheric extinction straight up at the wavelength.
    r0_zenith_500nm_m
        The ground site's Fried parameter at zenith and 500 nm.
    receiver_fov_urad
        Full angle of the receiver's field stop.
    transmitter_optics_loss_db, receiver_optics_loss_db
        Fixed losses of the two telescopes' optics (receiver: up to the detectors).
    turbulence
        Turbulence profile over the ground station that makes the transmittance fade around the budget's mean
        (:func:`link_fading`); ``None`` (the default) keeps the mean only. It does not change the mean: the
        seeing loss stays fixed by ``r0_zenith_500nm_m`` (see
        :meth:`~openqci.space.turbulence.HufnagelValley.scaled_to_fried_parameter` to make the two agree).
    """

    wavelength_nm: float
    transmitter_aperture_m: float
    beam_quality_m2: float
    pointing_jitter_urad: float
    zenith_loss_db: float
    r0_zenith_500nm_m: float
    receiver_fov_urad: float
    transmitter_optics_loss_db: float
    receiver_optics_loss_db: float
    turbulence: HufnagelValley | None = None

    def __post_init__(self) -> None:
        for name in ("wavelength_nm", "transmitter_aperture_m", "r0_zenith_500nm_m", "receiver_fov_urad"):
            _require(name, getattr(self, name), positive=True)
        for name in (
            "pointing_jitter_urad",
            "zenith_loss_db",
            "transmitter_optics_loss_db",
            "receiver_optics_loss_db",
        ):
            _require(name, getattr(self, name), positive=False)
        if not self.beam_quality_m2 >= 1.0:
            raise InvalidLinkError(f"beam_quality_m2 must be >= 1, got {self.beam_quality_m2!r}")

    @property
    def divergence_urad(self) -> float:
        """Far-field half-angle divergence at 1/e^2 intensity, ``M^2 lambda / (pi w0)``."""
        return (
            self.beam_quality_m2
            * self.wavelength_nm
            * 1e-9
            / (math.pi * self.transmitter_aperture_m / 2)
            * 1e6
        )


@dataclass(frozen=True)
class LinkBudget:
    """The loss terms (dB) of a downlink, each with the shape of the geometry it was computed on."""

    geometric_db: NDArray[np.float64]
    atmosphere_db: NDArray[np.float64]
    turbulence_db: NDArray[np.float64]
    optics_db: float

    @property
    def total_db(self) -> NDArray[np.float64]:
        """Sum of the terms: the loss from the transmitter's output to the detectors' input."""
        return np.asarray(self.geometric_db + self.atmosphere_db + self.turbulence_db + self.optics_db)


def geometric_loss_db(
    link: FreeSpaceLink, slant_range_km: ArrayLike, receiver_aperture_m: float
) -> NDArray[np.float64]:
    """Diffraction and pointing loss (dB): the share of the jittered Gaussian beam the receiver collects."""
    range_m = np.asarray(slant_range_km, dtype=np.float64) * 1e3
    w0 = link.transmitter_aperture_m / 2.0
    rayleigh_m = math.pi * w0**2 / (link.beam_quality_m2 * link.wavelength_nm * 1e-9)
    beam_m2 = w0**2 * (1.0 + (range_m / rayleigh_m) ** 2)
    spot_m2 = beam_m2 + 4.0 * (link.pointing_jitter_urad * 1e-6 * range_m) ** 2
    captured = -np.expm1(-2.0 * (receiver_aperture_m / 2.0) ** 2 / spot_m2)
    return np.asarray(-10.0 * np.log10(captured), dtype=np.float64)


def link_budget(
    link: FreeSpaceLink, elevation_deg: ArrayLike, slant_range_km: ArrayLike, receiver_aperture_m: float
) -> LinkBudget:
    """Loss terms of the downlink at the given geometry, broadcast over elevation and slant range.

    Examples
    --------
    >>> from openqci.space.presets import get_mission
    >>> micius = get_mission("micius2017")
    >>> budget = link_budget(micius.link, 49.0, 645.0, micius.ground_aperture_m)
    >>> 27.0 < float(budget.total_db) < 33.0
    True
    """
    elevation, range_km = np.broadcast_arrays(
        np.asarray(elevation_deg, float), np.asarray(slant_range_km, float)
    )
    return LinkBudget(
        geometric_db=geometric_loss_db(link, range_km, receiver_aperture_m),
        atmosphere_db=atmospheric_loss_db(elevation, link.zenith_loss_db),
        turbulence_db=seeing_loss_db(
            elevation, link.wavelength_nm, link.r0_zenith_500nm_m, link.receiver_fov_urad
        ),
        optics_db=link.transmitter_optics_loss_db + link.receiver_optics_loss_db,
    )


def link_fading(
    link: FreeSpaceLink,
    elevation_deg: ArrayLike,
    slant_range_km: ArrayLike,
    receiver_aperture_m: float,
    turbulence: HufnagelValley | None = None,
) -> LogNormalFading:
    """Distribution of the transmittance at the given geometry: log-normal around the budget's mean.

    ``turbulence`` defaults to the link's own profile; with neither, the law is a point mass at the mean.

    Examples
    --------
    >>> from openqci.space.presets import get_mission
    >>> from openqci.space.turbulence import HV57
    >>> micius = get_mission("micius2017")
    >>> fading = link_fading(micius.link, 49.0, 645.0, micius.ground_aperture_m, HV57)
    >>> 1e-4 < float(fading.scintillation_index) < 1e-2
    True
    """
    budget = link_budget(link, elevation_deg, slant_range_km, receiver_aperture_m)
    mean = db_to_transmittance(budget.total_db)
    profile = turbulence if turbulence is not None else link.turbulence
    if profile is None:
        return LogNormalFading(mean, np.zeros_like(mean))
    index = scintillation_index(
        profile, elevation_deg, slant_range_km, link.wavelength_nm, receiver_aperture_m
    )
    return LogNormalFading(mean, index)


@dataclass(frozen=True)
class FreeSpaceChannel:
    """A downlink over one sampled pass; implements :class:`openqci.physics.channels.Channel`.

    ``time_s`` counts seconds from the track's start. Outside the track the satellite is not in view and the
    transmittance is zero.
    """

    track: PassTrack
    link: FreeSpaceLink
    receiver_aperture_m: float

    def budget(self) -> LinkBudget:
        """The link budget at every sample of the track."""
        return link_budget(
            self.link, self.track.elevation_deg, self.track.slant_range_km, self.receiver_aperture_m
        )

    def fading(self) -> LogNormalFading:
        """Transmittance distribution at every sample of the track (the link's turbulence, if any)."""
        return link_fading(
            self.link, self.track.elevation_deg, self.track.slant_range_km, self.receiver_aperture_m
        )

    def loss_db(self, time_s: ArrayLike) -> NDArray[np.float64]:
        """Loss (dB) at each instant, interpolated between track samples; ``inf`` outside the pass."""
        t = np.asarray(time_s, dtype=np.float64)
        loss = np.interp(t, self.track.time_s, self.budget().total_db)
        outside = (t < self.track.time_s[0]) | (t > self.track.time_s[-1])
        return np.asarray(np.where(outside, np.inf, loss), dtype=np.float64)

    def transmittance(self, time_s: ArrayLike) -> NDArray[np.float64]:
        """Transmittance at each instant (zero outside the pass)."""
        return db_to_transmittance(self.loss_db(time_s))


def _require(name: str, value: float, *, positive: bool) -> None:
    ok = math.isfinite(value) and (value > 0 if positive else value >= 0)
    if not ok:
        raise InvalidLinkError(f"{name} must be a finite number {'>' if positive else '>='} 0, got {value!r}")
