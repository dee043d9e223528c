"""Photon-number groups: how the pulses of one intensity reach Bob's detectors, honestly or under attack.

A phase-randomised weak coherent pulse of mean photon number ``mu`` holds ``n`` photons with Poisson
probability; each photon survives channel and receiver with probability ``eta``, so a group of ``n``-photon
pulses clicks with ``1 - (1 - eta)^n`` before dark counts (Lo, Ma, Chen, PRL 94, 230504 (2005)). Splitting
the pulses this way is what lets an eavesdropper act on photon numbers (:mod:`openqci.link.eve`) while the
sampler stays one code path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from scipy import stats

__all__ = ["MAX_PHOTONS", "AttackContext", "PulseGroups", "QuantumAttack", "honest_groups"]

MAX_PHOTONS = 12
"""Photon numbers above this are lumped into it; for ``mu <= 1.2`` the lumped mass is below 1e-9."""


@dataclass(frozen=True)
class PulseGroups:
    """Sub-populations of one intensity's pulses, as seen at Bob's detectors.

    Attributes
    ----------
    weight
        Fraction of the intensity's pulses in each group (sums to 1).
    photon_number
        Photons Alice put in the pulse.
    signal_click
        Probability that a signal photon is detected, before dark counts.
    wrong_x, wrong_z
        Probability that a detected signal lands in the wrong detector when Alice and Bob both chose the
        X (resp. Z) basis: the misalignment, or more under intercept-resend.
    """

    weight: NDArray[np.float64]
    photon_number: NDArray[np.int8]
    signal_click: NDArray[np.float64]
    wrong_x: NDArray[np.float64]
    wrong_z: NDArray[np.float64]

    def concatenate(self, other: PulseGroups) -> PulseGroups:
        """Both sets of groups side by side (weights are not renormalised)."""
        return PulseGroups(*(np.concatenate([getattr(self, name), getattr(other, name)]) for name in _FIELDS))

    def scaled(self, factor: float) -> PulseGroups:
        """The same groups with their weights multiplied by ``factor``."""
        return PulseGroups(
            self.weight * factor, self.photon_number, self.signal_click, self.wrong_x, self.wrong_z
        )


_FIELDS = ("weight", "photon_number", "signal_click", "wrong_x", "wrong_z")


@dataclass(frozen=True)
class AttackContext:
    """What an eavesdropper may know of the link: she is assumed to know the whole device model."""

    mu: float
    signal_mu: float
    channel_transmittance: float
    receiver_efficiency: float
    misalignment: float
    basis_prob_x: float


class QuantumAttack(Protocol):
    """An attack on the quantum channel: it rewrites the photon-number groups of every intensity."""

    @property
    def name(self) -> str:
        """The attack's command-line name."""
        ...

    def apply(self, groups: PulseGroups, context: AttackContext) -> PulseGroups:
        """Groups as they reach Bob when the attack is on."""
        ...


def honest_groups(mu: float, eta: float, misalignment: float) -> PulseGroups:
    """Photon-number groups ``n = 0 .. MAX_PHOTONS`` of pulses of mean ``mu`` through transmittance ``eta``.

    ``eta`` is the whole transmittance, channel times Bob's receiver efficiency.
    """
    n = np.arange(MAX_PHOTONS + 1)
    weight = stats.poisson.pmf(n, mu)
    weight[-1] += stats.poisson.sf(MAX_PHOTONS, mu)
    signal = -np.expm1(n * np.log1p(-min(eta, 1.0 - 1e-16)))
    wrong = np.full(n.size, misalignment)
    return PulseGroups(weight, n.astype(np.int8), signal, wrong, wrong.copy())
