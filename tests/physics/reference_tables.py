"""The reference tables of the physics tests, recomputed here from the papers' formulas.

No paper prints these tables. Lo, Ma and Chen (LMC) and Ma, Qi, Zhao and Lo (MQZL) show their key rates as
figures, Lim et al. show theirs as Fig. 1, and Pirandola et al. (PLOB) give a formula. The numbers the tests
assert are therefore *recomputed*: this module writes the papers' equations out again in plain Python and
scipy, without importing :mod:`openqci`, so that the tests compare the library against an independent
implementation and anyone can regenerate every number::

    python -m tests.physics.reference_tables             # every table
    python -m tests.physics.reference_tables gys plob    # some of the tables named in TABLES

* ``gys``: asymptotic decoy-state BB84 (GLLP with decoys), key per pulse with ``mu`` optimised, LMC Eq. (11)
  with the channel and detector model of LMC and MQZL (``eta = eta_Bob 10^(-alpha L / 10)``,
  ``Q_mu = Y0 + 1 - exp(-eta mu)``, ``E_mu Q_mu = Y0 / 2 + e_det (1 - exp(-eta mu))``, ``Y1 = Y0 + eta``,
  ``e1 = (Y0 / 2 + e_det eta) / Y1``) and the GYS parameters LMC use: alpha 0.21 dB/km, e_det 3.3 %,
  Y0 1.7e-6, eta_Bob 4.5 %, f 1.22, q 1/2. "Infinite decoys" takes the true ``Y1`` and ``e1``; "vacuum +
  weak" bounds them from a vacuum and a weak decoy ``nu`` with MQZL Eqs. (33)-(37).
* ``lim2014``: finite-key decoy BB84, Lim et al. Eqs. (1)-(5) with the simulation parameters of their
  Sec. IV (eta_Bob 10 %, p_dc 6e-7, p_ap 4e-2, 0.2 dB/km, e_mis 5e-3, f_EC 1.16, mu3 2e-4), blocks of
  ``n_X`` key-basis detections, epsilon_sec 1e-10 and epsilon_cor 1e-15, key per sent pulse optimised over
  ``q_x``, ``p_mu1``, ``p_mu2``, ``mu1`` and ``mu2``. The vacuum bound is floored at zero before it enters
  Eq. (3) (a count is never negative, so the floored value is still a lower bound).
* ``plob``: the repeaterless bound ``-log2(1 - eta)`` of Pirandola et al. at 0.2 dB/km.

References: LMC, PRL 94, 230504 (2005), arXiv quant-ph/0411004; MQZL, PRA 72, 012326 (2005), arXiv
quant-ph/0503005; Lim, Curty, Walenta, Xu, Zbinden, PRA 89, 022307 (2014), arXiv 1311.7129; Pirandola,
Laurenza, Ottaviani, Banchi, Nat. Commun. 8, 15043 (2017), arXiv 1510.08863.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence

from scipy.optimize import brentq, differential_evolution, minimize_scalar

# GYS parameters as LMC use them.
GYS_ALPHA_DB_PER_KM = 0.21
GYS_E_DET = 0.033
GYS_Y0 = 1.7e-6
GYS_ETA_BOB = 0.045
GYS_F = 1.22
GYS_Q = 0.5
GYS_DISTANCES_KM = (0.0, 25.0, 50.0, 75.0, 100.0, 120.0, 130.0)

# Lim et al. 2014, Sec. IV.
LIM_ETA_BOB = 0.10
LIM_P_DC = 6e-7
LIM_P_AP = 4e-2
LIM_ALPHA_DB_PER_KM = 0.2
LIM_E_MIS = 5e-3
LIM_F = 1.16
LIM_MU3 = 2e-4
LIM_EPSILON_SEC = 1e-10
LIM_EPSILON_COR = 1e-15
LIM_BLOCKS = (1e6, 1e7, 1e9)
LIM_DISTANCES_KM = (0.0, 50.0, 100.0)

PLOB_DISTANCES_KM = (50.0, 100.0, 200.0, 300.0, 500.0, 830.0, 1002.0)


def significant(value: float, digits: int = 4) -> float:
    """``value`` rounded to ``digits`` significant figures, as the tables print it."""
    return float(f"{value:.{digits}g}")


def binary_entropy(x: float) -> float:
    return 0.0 if x <= 0.0 or x >= 1.0 else -x * math.log2(x) - (1.0 - x) * math.log2(1.0 - x)


# --- asymptotic decoy BB84 with the GYS parameters (LMC, MQZL) ---------------------------------------------


def gys_rate(distance_km: float, mu: float, nu: float | None = None) -> float:
    """Key per pulse at signal intensity ``mu``; infinite decoys, or vacuum + weak decoy ``nu`` if given."""
    eta = GYS_ETA_BOB * 10.0 ** (-GYS_ALPHA_DB_PER_KM * distance_km / 10.0)

    def gain(k: float) -> float:
        return GYS_Y0 + 1.0 - math.exp(-eta * k)

    def error_gain(k: float) -> float:
        return 0.5 * GYS_Y0 + GYS_E_DET * (1.0 - math.exp(-eta * k))

    q_mu = gain(mu)
    if nu is None:
        y1 = GYS_Y0 + eta
        e1 = (0.5 * GYS_Y0 + GYS_E_DET * eta) / y1
    else:
        # MQZL Eq. (33): Y0 from the vacuum decoy; Eq. (34): Y1 lower bound; Eq. (37): e1 upper bound.
        y0 = gain(0.0)
        y1 = (
            mu
            / (mu * nu - nu**2)
            * (gain(nu) * math.exp(nu) - nu**2 / mu**2 * q_mu * math.exp(mu) - (mu**2 - nu**2) / mu**2 * y0)
        )
        if y1 <= 0.0:
            return -1.0
        e1 = min((error_gain(nu) * math.exp(nu) - 0.5 * y0) / (y1 * nu), 0.5)
    q1 = y1 * mu * math.exp(-mu)  # MQZL Eq. (35) when y1 is the bound
    return GYS_Q * (-q_mu * GYS_F * binary_entropy(error_gain(mu) / q_mu) + q1 * (1.0 - binary_entropy(e1)))


def gys_optimum(distance_km: float, nu: float | None = None) -> tuple[float, float]:
    """Best key per pulse and the ``mu`` that gives it."""
    lowest = 0.01 if nu is None else nu + 0.01
    found = minimize_scalar(
        lambda mu: -gys_rate(distance_km, mu, nu),
        bounds=(lowest, 1.2),
        method="bounded",
        options={"xatol": 1e-6},
    )
    return -float(found.fun), float(found.x)


def gys_reach_km(nu: float | None = None) -> float:
    """Distance at which the optimised key per pulse reaches zero."""
    return float(brentq(lambda d: gys_optimum(d, nu)[0], 100.0, 160.0, xtol=1e-6))


def gys_table() -> list[tuple[float, float, float, float]]:
    """Rows of (distance_km, infinite-decoy rate, its mu, vacuum + weak (nu = 0.1) rate)."""
    rows = []
    for distance in GYS_DISTANCES_KM:
        rate, mu = gys_optimum(distance)
        rows.append((distance, significant(rate), round(mu, 3), significant(gys_optimum(distance, 0.1)[0])))
    return rows


def gys_reaches() -> dict[str, float]:
    """Reach (km) with infinite decoys and with vacuum + weak decoys of three strengths."""
    reaches = {"infinite": round(gys_reach_km(), 1)}
    for nu in (0.1, 0.05, 0.01):
        reaches[f"vacuum+weak nu={nu}"] = round(gys_reach_km(nu), 1)
    return reaches


# --- finite-key decoy BB84 (Lim et al. 2014) -----------------------------------------------------------


def lim2014_rate(params: Sequence[float], distance_km: float, n_x: float) -> float:
    """Key per sent pulse for blocks of ``n_x`` key-basis detections (Eqs. 1-5); -1 where no key exists.

    ``params`` are ``(q_x, p_mu1, p_mu2, mu1, mu2)``.
    """
    q_x, p1, p2, mu1, mu2 = params
    mu3, p3 = LIM_MU3, 1.0 - p1 - p2
    if not (0.0 < q_x < 1.0 and p1 > 0.0 and p2 > 0.0 and p3 > 0.0 and mu1 > mu2 + mu3 and mu2 > mu3):
        return -1.0
    mu, p = (mu1, mu2, mu3), (p1, p2, p3)
    eta = LIM_ETA_BOB * 10.0 ** (-LIM_ALPHA_DB_PER_KM * distance_km / 10.0)
    click = [1.0 - (1.0 - 2.0 * LIM_P_DC) * math.exp(-eta * k) for k in mu]  # D_k
    gain = [d * (1.0 + LIM_P_AP) for d in click]  # R_k
    error = [
        LIM_P_DC + LIM_E_MIS * (1.0 - math.exp(-eta * k)) + LIM_P_AP * d / 2.0
        for k, d in zip(mu, click, strict=True)
    ]
    pulses = n_x / (q_x**2 * sum(pk * rk for pk, rk in zip(p, gain, strict=True)))
    n_xk = [pulses * q_x**2 * pk * rk for pk, rk in zip(p, gain, strict=True)]
    n_zk = [pulses * (1.0 - q_x) ** 2 * pk * rk for pk, rk in zip(p, gain, strict=True)]
    m_zk = [pulses * (1.0 - q_x) ** 2 * pk * ek for pk, ek in zip(p, error, strict=True)]
    qber = sum(pk * ek for pk, ek in zip(p, error, strict=True)) / sum(
        pk * rk for pk, rk in zip(p, gain, strict=True)
    )
    log_term = math.log(21.0 / LIM_EPSILON_SEC)
    tau0 = sum(pk * math.exp(-k) for k, pk in zip(mu, p, strict=True))
    tau1 = sum(pk * math.exp(-k) * k for k, pk in zip(mu, p, strict=True))

    def hoeffding(counts: list[float]) -> tuple[list[float], list[float]]:
        delta = math.sqrt(sum(counts) / 2.0 * log_term)
        lower = [math.exp(k) / pk * (c - delta) for k, pk, c in zip(mu, p, counts, strict=True)]
        upper = [math.exp(k) / pk * (c + delta) for k, pk, c in zip(mu, p, counts, strict=True)]
        return lower, upper

    def vacuum_and_single(counts: list[float]) -> tuple[float, float]:
        lower, upper = hoeffding(counts)
        s0 = tau0 * (mu2 * lower[2] - mu3 * upper[1]) / (mu2 - mu3)  # Eq. (2)
        s1 = (
            tau1
            * mu1
            * (lower[1] - upper[2] - (mu2**2 - mu3**2) / mu1**2 * (upper[0] - max(s0, 0.0) / tau0))
            / (mu1 * (mu2 - mu3) - mu2**2 + mu3**2)
        )  # Eq. (3)
        return s0, s1

    s_x0, s_x1 = vacuum_and_single(n_xk)
    _, s_z1 = vacuum_and_single(n_zk)
    m_lower, m_upper = hoeffding(m_zk)
    v_z1 = tau1 * (m_upper[1] - m_lower[2]) / (mu2 - mu3)  # Eq. (4)
    if s_x1 <= 0.0 or s_z1 <= 0.0:
        return -1.0
    ratio = v_z1 / s_z1
    if not 0.0 < ratio < 0.5:
        return -1.0
    c, d = s_z1, s_x1
    gamma = math.sqrt(
        (c + d)
        * (1.0 - ratio)
        * ratio
        / (c * d * math.log(2.0))
        * math.log2((c + d) / (c * d * (1.0 - ratio) * ratio) * 21.0**2 / LIM_EPSILON_SEC**2)
    )
    phase = min(ratio + gamma, 0.5)  # Eq. (5)
    length = (
        max(s_x0, 0.0)
        + s_x1 * (1.0 - binary_entropy(phase))
        - LIM_F * binary_entropy(qber) * n_x
        - 6.0 * math.log2(21.0 / LIM_EPSILON_SEC)
        - math.log2(2.0 / LIM_EPSILON_COR)
    )  # Eq. (1)
    return length / pulses


def lim2014_optimum(distance_km: float, n_x: float) -> float:
    """Key per sent pulse, ``q_x``, ``p_mu1``, ``p_mu2``, ``mu1`` and ``mu2`` optimised by a global search."""
    bounds = [(0.01, 0.999), (0.02, 0.96), (0.02, 0.9), (0.05, 1.2), (0.001, 0.6)]
    found = differential_evolution(
        lambda params: -lim2014_rate(params, distance_km, n_x),
        bounds,
        seed=1,
        popsize=30,
        tol=1e-12,
        maxiter=3000,
        polish=True,
    )
    return max(-float(found.fun), 0.0)


def lim2014_reach_km(
    n_x: float, low_km: float = 100.0, high_km: float = 150.0, step_km: float = 0.5
) -> float:
    """Longest fibre (to ``step_km``) over which blocks of ``n_x`` still make key, by bisection."""
    if lim2014_optimum(low_km, n_x) <= 0.0 or lim2014_optimum(high_km, n_x) > 0.0:
        raise ValueError(f"the reach for n_X = {n_x:g} is not inside [{low_km}, {high_km}] km")
    while high_km - low_km > step_km:
        middle = 0.5 * (low_km + high_km)
        if lim2014_optimum(middle, n_x) > 0.0:
            low_km = middle
        else:
            high_km = middle
    return low_km


def lim2014_table() -> dict[float, list[float]]:
    """Key per pulse at 0, 50 and 100 km for blocks of 1e6, 1e7 and 1e9 key-basis detections."""
    return {n_x: [significant(lim2014_optimum(d, n_x)) for d in LIM_DISTANCES_KM] for n_x in LIM_BLOCKS}


# --- the repeaterless bound (PLOB) ----------------------------------------------------------------------


def plob_bound(eta: float) -> float:
    """Secret-key capacity of a pure-loss channel, ``-log2(1 - eta)``, written so it does not underflow."""
    return -math.log1p(-eta) / math.log(2.0)


def plob_table() -> list[tuple[float, float]]:
    """Rows of (distance_km, bound) over fibre of 0.2 dB/km."""
    return [(d, significant(plob_bound(10.0 ** (-0.02 * d)), 3)) for d in PLOB_DISTANCES_KM]


# lim2014-reach takes minutes, so a bare run leaves it out.
TABLES = ("gys", "gys-reach", "lim2014", "lim2014-reach", "plob")


def main(argv: Sequence[str]) -> None:
    wanted = list(argv) or [name for name in TABLES if name != "lim2014-reach"]
    for name in wanted:
        if name == "gys":
            print("GYS, key per pulse: distance_km, infinite decoys, mu*, vacuum + weak (nu = 0.1)")
            for row in gys_table():
                print(*row, sep=", ")
        elif name == "gys-reach":
            print("GYS reach (km):", gys_reaches())
        elif name == "lim2014":
            print(f"Lim et al. 2014, key per pulse at {LIM_DISTANCES_KM} km, by n_X:")
            for n_x, rates in lim2014_table().items():
                print(f"{n_x:g}", rates)
        elif name == "lim2014-reach":
            print("Lim et al. 2014, reach (km) for n_X = 1e4:", lim2014_reach_km(1e4))
        elif name == "plob":
            print("PLOB at 0.2 dB/km: distance_km, bits per channel use")
            for row in plob_table():
                print(*row, sep=", ")
        else:
            raise SystemExit(
                f"unknown table {name!r}; choose from gys, gys-reach, lim2014, lim2014-reach, plob"
            )


if __name__ == "__main__":
    main(sys.argv[1:])
