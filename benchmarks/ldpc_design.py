"""Design of the LDPC mother codes: density evolution of min-sum and sum-product on the BSC.

Run as ``.venv/bin/python benchmarks/ldpc_design.py [--rule min-sum|sum-product] [--rate R] [--alpha A ...]
[--offset B] [--degrees D ...] [--peg]``, where ``--degrees 2:0.16,3:0.588,8:0.252`` gives the fraction of
variable nodes of each degree (check degrees are concentrated on two neighbouring values) and ``--peg`` takes
the distribution of the PEG family (:data:`openqci.link.ldpc_codes.PEG_NODE_DEGREES`, degree 3 the rest).
For each ensemble it prints the decoding threshold as an efficiency ``f* = (1 - R) / h(p*)``: the lowest
``f`` at which an infinitely long code of that ensemble still decodes under the decoder of
:mod:`openqci.link.ldpc_decoder`. Finite frames need a margin above ``f*`` (measured with
``benchmarks/bench_ldpc.py``); ranking ensembles is what this script is for. The PEG family's threshold
under sum-product is re-computed by ``.venv/bin/python benchmarks/ldpc_design.py --rule sum-product --peg``.

Method: quantised density evolution (Richardson, Urbanke, "The capacity of low-density parity-check codes
under message-passing decoding", IEEE Trans. Inf. Theory 47(2), 2001), messages on a grid of step
``STEP_LLR`` clipped at ``+-LIMIT_LLR``. The variable-node update is a convolution (FFT); the check-node
update of min-sum is exact on the grid: with ``a(t) = P(v >= t)`` and ``b(t) = P(v <= -t)``, the
minimum magnitude of ``k`` inputs is at least ``t`` with product sign ``+`` or ``-`` with probability
``((a + b)^k +- (a - b)^k) / 2``; the normalisation then scales the magnitude. The staircase nodes are
treated as random degree-2 nodes, the usual approximation for repeat-accumulate ensembles.

Sum-product is evolved by Monte Carlo density evolution (population dynamics; Richardson, Urbanke, "Modern
coding theory", 2008, section 4.5): a population of ``--samples`` variable-to-check LLRs under the all-zero
word; each check output combines ``d - 1`` members drawn at random by the tanh rule (as a sum of
``ln tanh(|v| / 2)``), each variable output adds the channel LLR to ``d - 1`` drawn check outputs. The
error probability is estimated as ``E[1 / (1 + e^|v|)]``, exact for symmetric densities and smoother than
counting signs. The threshold carries a Monte Carlo error of a few thousandths of ``f``.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from openqci.link.ldpc_codes import PEG_NODE_DEGREES

STEP_LLR = 0.1
LIMIT_LLR = 50.0
_K = round(LIMIT_LLR / STEP_LLR)
SUCCESS_ERROR = 1e-5


@dataclass(frozen=True)
class Ensemble:
    """Ensemble of rate ``rate``: ``node_degrees`` gives (degree, fraction of all variable nodes) pairs.

    The check degrees are concentrated on two neighbouring values.
    """

    rate: float
    node_degrees: tuple[tuple[int, float], ...]

    def edge_distributions(self) -> tuple[dict[int, float], dict[int, float]]:
        """Edge-perspective variable (lambda) and check (rho) degree distributions."""
        m = 1.0 - self.rate
        edges: dict[int, float] = {}
        for degree, fraction in self.node_degrees:
            edges[degree] = edges.get(degree, 0.0) + degree * fraction
        total = sum(edges.values())
        mean_check = total / m
        low = math.floor(mean_check)
        high_share = mean_check - low
        rho = {low: (1.0 - high_share) * low / mean_check, low + 1: high_share * (low + 1) / mean_check}
        return {d: e / total for d, e in edges.items()}, {d: r for d, r in rho.items() if r > 0}


def _variable_update(
    check_pmf: NDArray[np.float64], channel_pmf: NDArray[np.float64], lam: dict[int, float]
) -> NDArray[np.float64]:
    """Density of variable-to-check messages: channel plus ``d - 1`` check messages, mixed over ``lam``."""
    width = 2 * _K + 1
    size = 1 << math.ceil(math.log2(width * (max(lam) + 1)))
    check_f = np.fft.rfft(check_pmf, size)
    channel_f = np.fft.rfft(channel_pmf, size)
    out = np.zeros(width)
    for degree, weight in lam.items():
        total = np.fft.irfft(channel_f * check_f ** (degree - 1), size)
        total = np.maximum(total, 0.0)
        offset = degree * _K  # index of LLR 0 in the sum of ``degree`` grid variables
        index = np.clip(np.arange(size) - offset, -_K, _K) + _K
        out += weight * np.bincount(index, weights=total, minlength=width)
    return np.asarray(out / out.sum(), dtype=np.float64)


def _check_update(
    var_pmf: NDArray[np.float64], rho: dict[int, float], alpha: float, offset: float
) -> NDArray[np.float64]:
    """Check-to-variable density of min-sum scaled by ``alpha`` less ``offset`` (a zero input counts as +)."""
    width = 2 * _K + 1
    positive = np.cumsum(var_pmf[::-1])[::-1][_K:]  # P(v >= t), t = 0..K
    negative = np.concatenate(([1.0 - positive[0]], np.cumsum(var_pmf)[:_K][::-1]))  # P(v <= -t), t >= 1
    target = np.clip(np.round(alpha * np.arange(_K + 1) - offset / STEP_LLR).astype(np.int64), 0, _K)
    target[-1] = _K  # the clip stands for "certain": scaling it would put a floor under the error rate
    out = np.zeros(width)
    for degree, weight in rho.items():
        k = degree - 1
        plus = ((positive + negative) ** k + (positive - negative) ** k) / 2.0
        minus = ((positive + negative) ** k - (positive - negative) ** k) / 2.0
        p_plus = plus - np.append(plus[1:], 0.0)
        p_minus = minus - np.append(minus[1:], 0.0)
        out += weight * np.bincount(_K + target, weights=p_plus, minlength=width)
        out += weight * np.bincount(_K - target, weights=p_minus, minlength=width)
    out = np.maximum(out, 0.0)
    return np.asarray(out / out.sum(), dtype=np.float64)


def decodes(ensemble: Ensemble, qber: float, alpha: float, offset: float, max_iterations: int = 300) -> bool:
    """Whether density evolution drives the message error probability below ``SUCCESS_ERROR`` at ``qber``.

    Not to zero: with a multiplicative normalisation, every check holds two staircase (degree-2) inputs,
    so a check message is at most ``alpha`` times a degree-2 message, which is the channel LLR plus one
    check message; magnitudes therefore stay below ``alpha L / (1 - alpha)`` and the error probability
    settles on a small floor instead of vanishing. The floor is real (the decoder stops on the syndrome
    long before), the jump from a stuck fixed point near 1e-2 to the floor is what marks the threshold.
    """
    lam, rho = ensemble.edge_distributions()
    channel = np.zeros(2 * _K + 1)
    llr_index = round(math.log((1 - qber) / qber) / STEP_LLR)
    channel[_K + llr_index], channel[_K - llr_index] = 1.0 - qber, qber
    var_pmf = channel.copy()
    previous = 1.0
    for iteration in range(max_iterations):
        check_pmf = _check_update(var_pmf, rho, alpha, offset)
        var_pmf = _variable_update(check_pmf, channel, lam)
        error = float(var_pmf[:_K].sum() + 0.5 * var_pmf[_K])
        if error < SUCCESS_ERROR:
            return True
        if iteration % 50 == 49:
            if error > 0.999 * previous:
                return False
            previous = error
    return False


SP_SUCCESS_ERROR = 1e-7
_SP_CLIP_LLR = 30.0


def sum_product_decodes(
    ensemble: Ensemble, qber: float, *, samples: int, rng: np.random.Generator, max_iterations: int = 400
) -> bool:
    """Whether Monte Carlo density evolution of sum-product reaches ``SP_SUCCESS_ERROR`` at ``qber``."""
    lam, rho = ensemble.edge_distributions()
    llr = math.log((1 - qber) / qber)
    var = np.where(rng.random(samples) < qber, -llr, llr)
    previous = 1.0
    for iteration in range(max_iterations):
        check = _sum_product_checks(var, rho, rng)
        var = _sum_product_variables(check, llr, qber, lam, rng)
        small = np.exp(-np.abs(var))
        error = float(np.mean(small / (1.0 + small)))
        if error < SP_SUCCESS_ERROR:
            return True
        if iteration % 25 == 24:
            if error > 0.99 * previous:
                return False
            previous = error
    return False


def _sum_product_checks(
    var: NDArray[np.float64], rho: dict[int, float], rng: np.random.Generator
) -> NDArray[np.float64]:
    """Check-to-variable population: tanh rule over ``d - 1`` members of ``var``, mixed over ``rho``."""
    log_tanh = np.log(np.maximum(np.tanh(np.abs(var) / 2.0), 1e-300))
    negative = var < 0
    out = []
    for degree, count in _split(var.size, rho).items():
        picks = rng.integers(0, var.size, size=(count, degree - 1))
        magnitude = np.exp(log_tanh[picks].sum(axis=1))
        sign = np.where(np.count_nonzero(negative[picks], axis=1) % 2 == 1, -1.0, 1.0)
        out.append(sign * np.minimum(2.0 * np.arctanh(np.minimum(magnitude, 1.0 - 1e-15)), _SP_CLIP_LLR))
    return np.concatenate(out)


def _sum_product_variables(
    check: NDArray[np.float64], llr: float, qber: float, lam: dict[int, float], rng: np.random.Generator
) -> NDArray[np.float64]:
    """Variable-to-check population: channel LLR plus ``d - 1`` members of ``check``, mixed over ``lam``."""
    out = []
    for degree, count in _split(check.size, lam).items():
        channel = np.where(rng.random(count) < qber, -llr, llr)
        picks = rng.integers(0, check.size, size=(count, degree - 1))
        out.append(np.clip(channel + check[picks].sum(axis=1), -1e3, 1e3))
    return np.concatenate(out)


def _split(samples: int, distribution: dict[int, float]) -> dict[int, int]:
    """Population members per degree, in proportion to an edge-perspective distribution."""
    counts = {degree: round(weight * samples) for degree, weight in distribution.items()}
    return {degree: count for degree, count in counts.items() if count > 0}


def threshold_efficiency(
    ensemble: Ensemble,
    alpha: float,
    offset: float,
    steps: int = 12,
    *,
    sum_product: bool = False,
    samples: int = 100_000,
    seed: int = 1,
) -> float:
    """Smallest ``f = (1 - R) / h(p)`` at which the ensemble decodes, by bisection on ``f``.

    ``sum_product`` evolves sum-product by Monte Carlo (``samples`` per population, each test from the same
    ``seed``) instead of min-sum with ``alpha`` and ``offset``.
    """
    low, high = 1.0, 1.4
    for _ in range(steps):
        middle = (low + high) / 2
        qber = _qber_of(ensemble.rate, middle)
        if sum_product:
            ok = sum_product_decodes(ensemble, qber, samples=samples, rng=np.random.default_rng(seed))
        else:
            ok = decodes(ensemble, qber, alpha, offset)
        low, high = (low, middle) if ok else (middle, high)
    return high


def _qber_of(rate: float, efficiency: float) -> float:
    """QBER ``p`` with ``(1 - R) / h(p) = f``, by bisection on ``h``."""
    target = (1.0 - rate) / efficiency
    low, high = 1e-6, 0.5
    for _ in range(60):
        middle = (low + high) / 2
        entropy = -middle * math.log2(middle) - (1 - middle) * math.log2(1 - middle)
        low, high = (middle, high) if entropy < target else (low, middle)
    return (low + high) / 2


def main() -> None:
    """Thresholds of a family of candidate ensembles at one rate."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rule", choices=["min-sum", "sum-product"], default="min-sum")
    parser.add_argument("--rate", type=float, default=0.84)
    parser.add_argument("--alpha", type=float, nargs="+", default=[0.8], help="min-sum normalisation")
    parser.add_argument("--offset", type=float, default=0.0, help="min-sum offset, subtracted after scaling")
    parser.add_argument(
        "--degrees", type=str, nargs="*", default=[], help="node fractions, e.g. 2:0.16,3:0.588,8:0.252"
    )
    parser.add_argument("--peg", action="store_true", help="the PEG family's distribution")
    parser.add_argument("--samples", type=int, default=100_000, help="Monte Carlo population (sum-product)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the Monte Carlo draws (sum-product)")
    args = parser.parse_args()
    candidates = [
        tuple((int(d), float(x)) for d, x in (pair.split(":") for pair in spec.split(",")))
        for spec in args.degrees
    ]
    if args.peg:
        candidates.append(_with_degree_three(PEG_NODE_DEGREES))
    for degrees in candidates or [((2, 0.16), (3, 0.588), (8, 0.252))]:
        ensemble = Ensemble(args.rate, degrees)
        if args.rule == "sum-product":
            found = threshold_efficiency(
                ensemble, 1.0, 0.0, steps=9, sum_product=True, samples=args.samples, seed=args.seed
            )
            print(
                f"rate {args.rate:.2f} nodes {degrees} sum-product ({args.samples} samples): f* = {found:.4f}"
            )
            continue
        for alpha in args.alpha:
            found = threshold_efficiency(ensemble, alpha, args.offset)
            label = f"rate {args.rate:.2f} nodes {degrees} alpha {alpha:.2f} offset {args.offset}"
            print(f"{label}: f* = {found:.4f}")


def _with_degree_three(degrees: tuple[tuple[int, float], ...]) -> tuple[tuple[int, float], ...]:
    """Node fractions with degree 3 taking what the listed degrees leave."""
    rest = round(1.0 - sum(fraction for _, fraction in degrees), 6)
    return tuple(sorted((*degrees, (3, rest))))


if __name__ == "__main__":
    main()
