"""Eavesdroppers: intercept-resend, photon-number splitting, and tampering with classical messages.

* :class:`InterceptResend` measures a fraction of the pulses in a random basis (chosen with the same bias
  as Alice's) right after Alice and resends one photon in the state she found. When her basis differs
  from Alice's, Bob's sifted bit is random: about a quarter of the intercepted sifted bits are wrong
  (Bennett, Brassard, Proc. IEEE ICCSSP (1984)).
* :class:`PhotonNumberSplitting` blocks every single-photon pulse, keeps one photon of each multi-photon
  pulse and sends the rest to Bob over a lossless line, turned down so that Bob's signal gain stays as
  expected whenever that is possible (Brassard, Lütkenhaus, Mor, Sanders, PRL 85, 1330 (2000)). It adds no
  errors; decoy states reveal it (Hwang, PRL 91, 057901 (2003)).
* :class:`ClassicalTampering` rewrites messages on the public channel; authentication reveals it
  (:mod:`openqci.link.channel` applies it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize

from openqci.link.errors import InvalidLinkParameterError
from openqci.link.photons import AttackContext, PulseGroups, honest_groups

__all__ = [
    "EAVESDROPPERS",
    "ClassicalTampering",
    "InterceptResend",
    "PhotonNumberSplitting",
    "parse_eavesdropper",
]


@dataclass(frozen=True)
class InterceptResend:
    """Intercept-resend on a fraction of the pulses."""

    fraction: float
    name: str = "intercept-resend"

    def __post_init__(self) -> None:
        if not 0.0 <= self.fraction <= 1.0:
            raise InvalidLinkParameterError(
                f"intercept-resend fraction must lie in [0, 1], got {self.fraction}"
            )

    def apply(self, groups: PulseGroups, context: AttackContext) -> PulseGroups:
        """Split each group into the untouched part and the intercepted part."""
        px, wrong = context.basis_prob_x, context.misalignment
        eta = context.channel_transmittance * context.receiver_efficiency
        found = groups.photon_number > 0  # Eve's ideal detector finds every non-empty pulse
        resent = np.where(found, eta, 0.0)
        # Same basis as Alice: Bob errs by misalignment only; other basis: Bob's bit is a coin toss.
        wrong_x = np.full(found.size, px * wrong + (1.0 - px) * 0.5)
        wrong_z = np.full(found.size, (1.0 - px) * wrong + px * 0.5)
        intercepted = PulseGroups(
            groups.weight * self.fraction, groups.photon_number, resent, wrong_x, wrong_z
        )
        return groups.scaled(1.0 - self.fraction).concatenate(intercepted)


@dataclass(frozen=True)
class PhotonNumberSplitting:
    """Photon-number splitting with single photons blocked and the rest forwarded losslessly."""

    name: str = "pns"

    def apply(self, groups: PulseGroups, context: AttackContext) -> PulseGroups:
        """Forward ``n - 1`` photons of each multi-photon pulse through Eve's line of transmittance ``t``."""
        t = self.line_transmittance(context)
        eta = t * context.receiver_efficiency
        forwarded = np.maximum(groups.photon_number.astype(np.float64) - 1.0, 0.0)
        signal = np.where(groups.photon_number >= 2, -np.expm1(forwarded * np.log1p(-eta)), 0.0)
        return PulseGroups(groups.weight, groups.photon_number, signal, groups.wrong_x, groups.wrong_z)

    @staticmethod
    def line_transmittance(context: AttackContext) -> float:
        """Eve's line transmittance that keeps Bob's signal gain at its honest value (1 if unreachable)."""
        mu, eta_b = context.signal_mu, context.receiver_efficiency
        honest = -np.expm1(-context.channel_transmittance * eta_b * mu)
        multi = honest_groups(mu, 1.0, 0.0)
        extra = np.maximum(multi.photon_number.astype(np.float64) - 1.0, 0.0)

        def gain(t: float) -> float:
            return float(np.sum(multi.weight * -np.expm1(extra * np.log1p(-min(t * eta_b, 1.0 - 1e-16)))))

        if gain(1.0) <= honest:
            return 1.0
        return float(optimize.brentq(lambda t: gain(t) - honest, 0.0, 1.0, xtol=1e-12))


@dataclass(frozen=True)
class ClassicalTampering:
    """Flip one bit of each classical message with probability ``probability``."""

    probability: float = 1.0
    name: str = "tamper"

    def __post_init__(self) -> None:
        if not 0.0 < self.probability <= 1.0:
            raise InvalidLinkParameterError(
                f"tampering probability must lie in (0, 1], got {self.probability}"
            )


EAVESDROPPERS = ("intercept-resend:FRACTION", "pns", "tamper")
"""The spellings :func:`parse_eavesdropper` accepts."""


def parse_eavesdropper(text: str) -> InterceptResend | PhotonNumberSplitting | ClassicalTampering:
    """Build an eavesdropper from its command-line spelling, e.g. ``intercept-resend:0.3``.

    Raises
    ------
    InvalidLinkParameterError
        For an unknown name or a malformed fraction; the message lists the valid spellings.
    """
    name, _, argument = text.partition(":")
    if name == "intercept-resend":
        try:
            return InterceptResend(float(argument))
        except ValueError:
            raise InvalidLinkParameterError(
                f"intercept-resend needs the fraction of pulses it intercepts, e.g. intercept-resend:0.3; "
                f"got {text!r}"
            ) from None
    if name == "pns" and not argument:
        return PhotonNumberSplitting()
    if name == "tamper":
        try:
            return ClassicalTampering(float(argument)) if argument else ClassicalTampering()
        except ValueError:
            raise InvalidLinkParameterError(f"tamper takes a probability, got {argument!r}") from None
    raise InvalidLinkParameterError(
        f"unknown eavesdropper {text!r}; choose one of: {', '.join(EAVESDROPPERS)}"
    )
