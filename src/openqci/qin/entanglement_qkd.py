"""Entanglement-based QKD (BBM92) on pairs that an entanglement link or a repeater chain delivers.

Both ends measure each pair in one of two bases chosen at random; matching bases are sifted, and the key is
drawn from both bases. A pair of Werner parameter ``w`` shows the QBER ``(1 - w) / 2`` in every basis. Key
per sifted bit, asymptotically ``1 - h(E) - f h(E)``; with finite statistics the phase error of one basis
is bounded from the bit errors seen in the other, ``E + theta`` with Hoeffding's ``theta =
sqrt(ln(1 / eps) / (2 k))`` for the ``k`` bits of that basis, and the privacy amplification and
verification terms are charged: ``l = n [1 - h(E + theta)] - f n h(E) - 2 log2(1 / eps_sec) -
log2(2 / eps_cor)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from openqci.physics.entropy import binary_entropy
from openqci.qin.chain import ChainResult
from openqci.qin.errors import QinParameterError

__all__ = ["EntanglementKey", "bbm92_key_from_pairs", "chain_key", "qber_of_werner"]


@dataclass(frozen=True)
class EntanglementKey:
    """Key made from ``sifted_bits`` at ``qber``: asymptotic and finite-key lengths, in bits."""

    sifted_bits: float
    qber: float
    asymptotic_bits: float
    finite_bits: float

    def rates(self, duration_s: float) -> dict[str, float]:
        return {
            "sifted_bps": self.sifted_bits / duration_s,
            "asymptotic_key_bps": self.asymptotic_bits / duration_s,
            "finite_key_bps": self.finite_bits / duration_s,
        }


def qber_of_werner(werner: float) -> float:
    """QBER of a Werner pair measured in any basis."""
    return (1.0 - werner) / 2.0


def bbm92_key_from_pairs(
    sifted_bits: float,
    qber: float,
    *,
    ec_efficiency: float = 1.16,
    epsilon_sec: float = 1e-10,
    epsilon_cor: float = 1e-15,
) -> EntanglementKey:
    """Secret key from ``sifted_bits`` sifted bits of QBER ``qber`` (both bases, used symmetrically)."""
    if sifted_bits < 0:
        raise QinParameterError(f"sifted bits must be >= 0, got {sifted_bits}")
    if not 0.0 <= qber <= 0.5:
        raise QinParameterError(f"QBER must be in [0, 0.5], got {qber}")
    if not 0.0 < epsilon_sec < 1.0 or not 0.0 < epsilon_cor < 1.0:
        raise QinParameterError("epsilon_sec and epsilon_cor must be in (0, 1)")
    leak = ec_efficiency * float(binary_entropy(qber))
    asymptotic = max(sifted_bits * (1.0 - float(binary_entropy(qber)) - leak), 0.0)
    per_basis = sifted_bits / 2.0
    finite = 0.0
    if per_basis >= 1.0:
        theta = math.sqrt(math.log(1.0 / epsilon_sec) / (2.0 * per_basis))
        phase = min(qber + theta, 0.5)
        finite = (
            sifted_bits * (1.0 - float(binary_entropy(phase)))
            - sifted_bits * leak
            - 2.0 * math.log2(1.0 / epsilon_sec)
            - math.log2(2.0 / epsilon_cor)
        )
    return EntanglementKey(sifted_bits, qber, asymptotic, max(finite, 0.0))


def chain_key(chain: ChainResult, duration_s: float) -> EntanglementKey:
    """BBM92 key from the pairs a repeater chain delivers in ``duration_s`` seconds.

    Half the pairs are measured in matching bases (each end picks Z or X at random). A distilled pair need
    not be a Werner state: its two measured bases err with ``(1 - <ZZ>) / 2`` and ``(1 - <XX>) / 2``, and
    the worse of the two is charged to both, which is what a key bounded from one basis's errors may
    assume. The errors average over the delivery times, as the sifted bits do.
    """
    if not duration_s > 0:
        raise QinParameterError(f"the key's duration must be > 0 s, got {duration_s}")
    zz, xx, _ = chain.waiting_time.mean_correlations
    qber = min(max((1.0 - float(zz)) / 2.0, (1.0 - float(xx)) / 2.0, 0.0), 0.5)
    return bbm92_key_from_pairs(chain.pair_rate_hz * duration_s / 2.0, qber)
