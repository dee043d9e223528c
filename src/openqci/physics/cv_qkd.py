"""Secret-key rate of Gaussian-modulated coherent-state CV-QKD (GG02), reverse reconciliation, trusted noise.

Alice sends coherent states displaced by a Gaussian of variance ``V_A`` (shot-noise units, SNU); Bob measures
one quadrature (homodyne) or both (heterodyne) with efficiency ``eta`` and electronic noise ``v_el``. Both are
*trusted*: Eve cannot touch Bob's detector, so its noise is no leak. Against collective attacks the rate per
symbol is ``K = beta I_AB - chi_BE`` (Devetak-Winter with reverse reconciliation), Eve's Holevo information
following from the covariance matrix of the entanglement-based picture, whose Gaussian attack is optimal.

Notation and formulas of Lodewyck et al., "Quantum key distribution over 25 km with an all-fiber
continuous-variable system", PRA 76, 042305 (2007), and Fossier, Diamanti, Debuisschert,
Tualle-Brouri, Grangier, J. Phys. B 42, 114014 (2009) (``V = V_A + 1``, excess noise ``xi`` at
the channel input)::

    chi_line = 1/T - 1 + xi
    chi_hom = (1 - eta + v_el) / eta          chi_het = (2 - eta + 2 v_el) / eta
    chi_tot = chi_line + chi_det / T
    I_AB = (d/2) log2[(V + chi_tot) / (1 + chi_tot)]          d = 1 homodyne, 2 heterodyne
    chi_BE = G(l1) + G(l2) - G(l3) - G(l4),   G(l) = g((l - 1)/2),  g(x) = (x+1) log2(x+1) - x log2 x
    l1,2^2 = [A +- sqrt(A^2 - 4B)]/2
    A = V^2 (1 - 2T) + 2T + T^2 (V + chi_line)^2,  B = T^2 (V chi_line + 1)^2
    l3,4^2 = [C +- sqrt(C^2 - 4D)]/2   (C, D depend on the detection, see :func:`_conditional_invariants`)

The finite-size rate follows Leverrier, Grosshans, Grangier, "Finite-size analysis of a continuous-variable
quantum key distribution", PRA 81, 062343 (2010): of a block of ``N`` symbols
``m`` estimate the channel, the rest (``n``) make key at
``(n/N)[beta I_AB - chi_BE(T_min, xi_max) - Delta(n)]``, where ``T_min`` and ``xi_max`` are the
parameter-estimation worst case and ``Delta(n)`` the privacy-amplification penalty. Homodyne only: that
is the case the paper's estimators are written for.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from statistics import NormalDist

import numpy as np
from numpy.typing import ArrayLike, NDArray

from openqci.physics.channels import fibre_transmittance
from openqci.physics.errors import InvalidParameterError
from openqci.physics.validation import require_open_unit_interval, require_positive, require_probability

__all__ = [
    "ZHANG2020",
    "CvDetection",
    "CvQkdSystem",
    "cv_qkd_finite_rate",
    "cv_qkd_rate",
    "cv_qkd_rate_at_transmittance",
    "holevo_bound_be",
    "mutual_information_ab",
    "worst_case_channel",
]

# The key is a difference of entropies of order one that cancel down to order T: below this transmittance
# (about 600 km of 0.2 dB/km fibre) a double keeps too few digits of it, so no key is claimed there.
_MIN_TRANSMITTANCE = 1e-12


class CvDetection(StrEnum):
    """Bob's measurement: one quadrature chosen at random, or both at once behind a balanced splitter."""

    HOMODYNE = "homodyne"
    HETERODYNE = "heterodyne"


@dataclass(frozen=True)
class CvQkdSystem:
    """A GG02 link as published: modulation, trusted receiver, reconciliation and fibre.

    ``excess_noise`` is referred to the channel input, in SNU. ``reconciliation_efficiency`` is beta.
    ``pilot_fraction`` is the share of the symbol clock spent on reference pulses and ``frame_error_rate`` the
    share of reconciliation frames that fail; both only scale the rate, as in Zhang et al.'s prefactor.
    """

    name: str
    modulation_variance: float
    excess_noise: float
    detector_efficiency: float
    electronic_noise: float
    reconciliation_efficiency: float
    fibre_attenuation_db_per_km: float = 0.2
    symbol_rate_hz: float = 1e6
    detection: CvDetection = CvDetection.HOMODYNE
    pilot_fraction: float = 0.0
    frame_error_rate: float = 0.0
    reference: str = ""

    def __post_init__(self) -> None:
        require_positive("modulation_variance", self.modulation_variance)
        require_positive("symbol_rate_hz", self.symbol_rate_hz)
        require_probability("reconciliation_efficiency", self.reconciliation_efficiency)
        require_probability("pilot_fraction", self.pilot_fraction)
        require_probability("frame_error_rate", self.frame_error_rate)
        require_probability("detector_efficiency", self.detector_efficiency)
        if self.detector_efficiency <= 0:
            raise InvalidParameterError("detector_efficiency must be > 0")
        if not (np.isfinite(self.excess_noise) and self.excess_noise >= 0):
            raise InvalidParameterError(f"excess_noise must be >= 0 SNU, got {self.excess_noise!r}")
        if not (np.isfinite(self.electronic_noise) and self.electronic_noise >= 0):
            raise InvalidParameterError(f"electronic_noise must be >= 0 SNU, got {self.electronic_noise!r}")
        if not (np.isfinite(self.fibre_attenuation_db_per_km) and self.fibre_attenuation_db_per_km >= 0):
            raise InvalidParameterError("fibre_attenuation_db_per_km must be >= 0")

    @property
    def useful_fraction(self) -> float:
        """Share of symbols that end up in a reconciled frame: pilots and failed frames make no key."""
        return (1.0 - self.pilot_fraction) * (1.0 - self.frame_error_rate)


ZHANG2020 = CvQkdSystem(
    name="zhang2020",
    modulation_variance=7.65,
    excess_noise=0.0081,
    detector_efficiency=0.6134,
    electronic_noise=0.1523,
    reconciliation_efficiency=0.98,
    fibre_attenuation_db_per_km=0.16,
    symbol_rate_hz=5e6,
    detection=CvDetection.HOMODYNE,
    pilot_fraction=0.1,
    frame_error_rate=0.9,
    reference=(
        "Zhang, Chen, Pirandola, Wang, Zhou, Chu, Zhao, Xu, Yu, Guo, PRL 125, 010502 (2020), "
        "arXiv 2001.02555, Table I, 202.81 km column: V_A 7.65, xi 0.0081 SNU (worst case 0.0383), "
        "eta 61.34 %, v_el 0.1523, beta 0.98, FER 0.9, loss 32.45 dB; 0.16 dB/km ultra-low-loss fibre, "
        "5 MHz clock, 10 % reference pulses, homodyne, trusted detector [Q]"
    ),
)
"""The 202.81 km operating point of the longest-fibre GG02 experiment (6.214 bit/s with finite size)."""


def cv_qkd_rate(system: CvQkdSystem, distance_km: ArrayLike) -> NDArray[np.float64]:
    """Asymptotic secret key per symbol sent (pilots and failed frames counted), unclipped.

    Negative where no key can be made, so optimisers and reach searches see how far from zero a point is.
    """
    transmittance = fibre_transmittance(distance_km, system.fibre_attenuation_db_per_km)
    return cv_qkd_rate_at_transmittance(system, transmittance)


def cv_qkd_rate_at_transmittance(system: CvQkdSystem, transmittance: ArrayLike) -> NDArray[np.float64]:
    """The same as :func:`cv_qkd_rate` for a channel given by its transmittance, e.g. a free-space pass."""
    t = _checked_transmittance(transmittance)
    raw = _raw_rate(system, t, np.full_like(t, system.excess_noise))
    return np.asarray(
        np.where(t >= _MIN_TRANSMITTANCE, system.useful_fraction * raw, -np.inf), dtype=np.float64
    )


def mutual_information_ab(
    system: CvQkdSystem, transmittance: ArrayLike, excess_noise: ArrayLike | None = None
) -> NDArray[np.float64]:
    """Alice-Bob Shannon information per symbol, bits (Fossier 2009)."""
    t = _checked_transmittance(transmittance)
    xi = np.broadcast_to(_excess(system, excess_noise), t.shape)
    chi_tot = _chi_line(t, xi) + _chi_detection(system) / t
    v = system.modulation_variance + 1.0
    dims = 1.0 if system.detection is CvDetection.HOMODYNE else 2.0
    return np.asarray(0.5 * dims * np.log1p((v - 1.0) / (1.0 + chi_tot)) / np.log(2.0), dtype=np.float64)


def holevo_bound_be(
    system: CvQkdSystem, transmittance: ArrayLike, excess_noise: ArrayLike | None = None
) -> NDArray[np.float64]:
    """Eve's Holevo information on Bob's data, bits per symbol (Fossier 2009)."""
    t = _checked_transmittance(transmittance)
    xi = np.broadcast_to(_excess(system, excess_noise), t.shape)
    v = system.modulation_variance + 1.0
    chi_line = _chi_line(t, xi)
    a = v**2 * (1.0 - 2.0 * t) + 2.0 * t + t**2 * (v + chi_line) ** 2
    b = t**2 * (v * chi_line + 1.0) ** 2
    l1, l2 = _pair_from_invariants(a, b)
    c, d = _conditional_invariants(system, t, chi_line, a, b)
    l3, l4 = _pair_from_invariants(c, d)
    holevo = _g(l1) + _g(l2) - _g(l3) - _g(l4)
    return np.asarray(holevo, dtype=np.float64)


def cv_qkd_finite_rate(
    system: CvQkdSystem,
    distance_km: ArrayLike,
    block_size: float,
    estimation_fraction: float = 0.5,
    epsilon: float = 1e-10,
) -> NDArray[np.float64]:
    """Finite-size key per symbol sent (Leverrier et al. 2010), unclipped; homodyne only.

    ``block_size`` is ``N``; a fraction ``estimation_fraction`` of it (``m``) is disclosed to estimate the
    channel. Every failure probability (estimation, smoothing, privacy amplification) is ``epsilon``, as in
    the paper's Fig. 2.
    """
    if system.detection is not CvDetection.HOMODYNE:
        raise InvalidParameterError("the Leverrier 2010 estimators are written for homodyne detection")
    require_positive("block_size", block_size)
    require_open_unit_interval("estimation_fraction", estimation_fraction)
    require_open_unit_interval("epsilon", epsilon)
    m = estimation_fraction * block_size
    n = block_size - m
    t = fibre_transmittance(distance_km, system.fibre_attenuation_db_per_km)
    t_min, xi_max = worst_case_channel(system, t, m, epsilon)
    key = system.reconciliation_efficiency * mutual_information_ab(system, t)
    key = key - holevo_bound_be(system, t_min, xi_max) - _privacy_amplification_penalty(n, epsilon)
    rate = system.useful_fraction * (n / block_size) * key
    return np.asarray(np.where(t >= _MIN_TRANSMITTANCE, rate, -np.inf), dtype=np.float64)


def worst_case_channel(
    system: CvQkdSystem, transmittance: ArrayLike, estimation_symbols: float, epsilon: float = 1e-10
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Transmittance and excess noise at the edge of their confidence intervals (Leverrier 2010).

    Bob's data obey ``y = t x + z`` with ``t = sqrt(eta T)`` and ``Var z = 1 + v_el + eta T xi``; from ``m``
    pairs ``t`` is known to ``z_eps sqrt(Var z / (m V_A))`` and ``Var z`` to ``z_eps Var z sqrt(2/m)``, where
    ``z_eps`` is the two-sided normal quantile of ``epsilon``. The smallest ``t`` and the largest ``Var z``
    give the channel Eve is assumed to have made.
    """
    require_positive("estimation_symbols", estimation_symbols)
    t = _checked_transmittance(transmittance)
    eta, v_el = system.detector_efficiency, system.electronic_noise
    z = -NormalDist().inv_cdf(epsilon / 2.0)
    slope = np.sqrt(eta * t)
    noise = 1.0 + v_el + eta * t * system.excess_noise
    slope_min = np.maximum(
        slope - z * np.sqrt(noise / (estimation_symbols * system.modulation_variance)), 1e-300
    )
    noise_max = noise * (1.0 + z * np.sqrt(2.0 / estimation_symbols))
    t_min = np.minimum(slope_min**2 / eta, 1.0)
    xi_max = (noise_max - 1.0 - v_el) / (eta * t_min)
    return np.asarray(t_min, dtype=np.float64), np.asarray(xi_max, dtype=np.float64)


def _raw_rate(
    system: CvQkdSystem, transmittance: NDArray[np.float64], excess_noise: NDArray[np.float64]
) -> NDArray[np.float64]:
    information = mutual_information_ab(system, transmittance, excess_noise)
    return np.asarray(
        system.reconciliation_efficiency * information - holevo_bound_be(system, transmittance, excess_noise),
        dtype=np.float64,
    )


def _privacy_amplification_penalty(n: float, epsilon: float) -> float:
    """Delta(n) of Leverrier 2010, with dim H_X = 2 (binary reconciled key)."""
    return float(7.0 * np.sqrt(np.log2(2.0 / epsilon) / n) + 2.0 / n * np.log2(1.0 / epsilon))


def _conditional_invariants(
    system: CvQkdSystem,
    t: NDArray[np.float64],
    chi_line: NDArray[np.float64],
    a: NDArray[np.float64],
    b: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Invariants (sum and product of squares) of the state Eve purifies once Bob has measured."""
    v = system.modulation_variance + 1.0
    chi_det = _chi_detection(system)
    chi_tot = chi_line + chi_det / t
    root_b = np.sqrt(b)
    if system.detection is CvDetection.HOMODYNE:
        scale = t * (v + chi_tot)
        c = (v * root_b + t * (v + chi_line) + a * chi_det) / scale
        d = root_b * (v + root_b * chi_det) / scale
        return c, d
    scale = t * (v + chi_tot)
    c = a * chi_det**2 + b + 1.0 + 2.0 * chi_det * (v * root_b + t * (v + chi_line)) + 2.0 * t * (v**2 - 1.0)
    d = ((v + root_b * chi_det) / scale) ** 2
    return c / scale**2, d


def _chi_detection(system: CvQkdSystem) -> float:
    """Noise added by Bob's trusted detector, referred to its input, in SNU."""
    eta, v_el = system.detector_efficiency, system.electronic_noise
    if system.detection is CvDetection.HOMODYNE:
        return (1.0 - eta + v_el) / eta
    return (2.0 - eta + 2.0 * v_el) / eta


def _chi_line(t: NDArray[np.float64], xi: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(1.0 / t - 1.0 + xi, dtype=np.float64)


def _pair_from_invariants(
    total: NDArray[np.float64], product: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Two symplectic eigenvalues from ``l1^2 + l2^2`` and ``l1^2 l2^2``; rounding kept above the vacuum.

    The small one is ``product / high^2`` rather than ``(total - spread) / 2``: with a large modulation the
    subtraction loses about ``V^2`` times the rounding error, enough to break the repeaterless bound.
    """
    spread = np.sqrt(np.maximum(total**2 - 4.0 * product, 0.0))
    high_squared = np.maximum((total + spread) / 2.0, 1.0)
    low_squared = np.maximum(product / high_squared, 1.0)
    return np.sqrt(high_squared), np.sqrt(low_squared)


def _g(symplectic: NDArray[np.float64]) -> NDArray[np.float64]:
    """Von Neumann entropy of a thermal mode of symplectic eigenvalue ``l`` (vacuum: l = 1, entropy 0)."""
    x = np.maximum((symplectic - 1.0) / 2.0, 0.0)
    # log2(x + 1) + x log2(1 + 1/x): the textbook (x+1) log2(x+1) - x log2(x) cancels two large terms.
    safe = np.where(x > 0, x, 1.0)
    entropy = np.log1p(x) / np.log(2.0) + np.where(x > 0, x * np.log1p(1.0 / safe) / np.log(2.0), 0.0)
    return np.asarray(entropy, dtype=np.float64)


def _excess(system: CvQkdSystem, excess_noise: ArrayLike | None) -> NDArray[np.float64]:
    if excess_noise is None:
        return np.asarray(system.excess_noise, dtype=np.float64)
    xi = np.asarray(excess_noise, dtype=np.float64)
    if not np.all(np.isfinite(xi)) or np.any(xi < 0):
        raise InvalidParameterError("excess_noise must be a finite number >= 0 SNU")
    return xi


def _checked_transmittance(transmittance: ArrayLike) -> NDArray[np.float64]:
    """Transmittance as an array; a fibre of any length has T > 0, and T = 0 carries no key (nor any CM)."""
    t = np.asarray(transmittance, dtype=np.float64)
    if not np.all(np.isfinite(t)) or np.any((t <= 0) | (t > 1)):
        raise InvalidParameterError("transmittance must lie in (0, 1]")
    return t
