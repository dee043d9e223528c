"""One entry point for every secret-key-rate model, vectorised over distance.

:func:`secret_key_rate` picks the model for a protocol, optimises the signal intensity (or pair number)
when none is given, and returns a :class:`KeyRateResult` whose fields are arrays over distance.
:func:`max_distance_km` finds where the optimised rate reaches zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

import numpy as np
from numpy.typing import ArrayLike, NDArray

from openqci.physics.bbm92 import bbm92_rate, bbm92_statistics
from openqci.physics.channels import fibre_loss_db, fibre_transmittance
from openqci.physics.decoy_bb84 import DecoyMethod, decoy_bb84_rate
from openqci.physics.detection import expected_detection
from openqci.physics.devices import QkdSystem
from openqci.physics.errors import InvalidParameterError
from openqci.physics.finite_key import finite_key_rate
from openqci.physics.optimise import maximise
from openqci.physics.plob import plob_bound
from openqci.physics.protocols import Protocol
from openqci.physics.validation import require_non_negative, require_open_unit_interval

__all__ = ["FINITE_BOUNDS", "KeyRateResult", "Protocol", "max_distance_km", "secret_key_rate"]

FINITE_BOUNDS = ("lim2014", "chernoff", "one-decoy")
"""The finite-key analyses of decoy BB84 (``secret_key_rate(..., finite_bound=...)``)."""

_MU_RANGE = (1e-3, 1.5)
_SEARCH_LIMIT_KM = 2000.0


class _Common(TypedDict):
    """The fields every protocol's result shares."""

    preset: str
    distance_km: NDArray[np.float64]
    channel_loss_db: NDArray[np.float64]
    repetition_rate_hz: float


@dataclass(frozen=True)
class KeyRateResult:
    """Key-rate figures per distance; every array has the shape of ``distance_km``.

    For PLOB, ``secret_key_rate_per_pulse`` is in bits per channel use and ``mu``, ``gain`` and ``qber``
    are NaN. ``block_size`` and ``epsilon`` are set for finite-key results only.
    """

    protocol: Protocol | str
    """A :class:`Protocol`, or the name of a protocol of :mod:`openqci.physics.catalogue`."""
    preset: str
    decoys: DecoyMethod | None
    distance_km: NDArray[np.float64]
    channel_loss_db: NDArray[np.float64]
    mu: NDArray[np.float64]
    gain: NDArray[np.float64]
    qber: NDArray[np.float64]
    secret_key_rate_per_pulse: NDArray[np.float64]
    repetition_rate_hz: float
    block_size: float | None = None
    epsilon: float | None = None
    finite_bound: str | None = None
    """The finite-key analysis (finite-key results only): lim2014, chernoff or one-decoy."""

    @property
    def secret_key_rate_bps(self) -> NDArray[np.float64]:
        """Secret key in bits per second at the source's clock rate."""
        return self.secret_key_rate_per_pulse * self.repetition_rate_hz

    def records(self) -> list[dict[str, object]]:
        """One JSON-ready dictionary per distance."""
        rows = []
        for i in range(self.distance_km.size):
            row: dict[str, object] = {
                "protocol": str(self.protocol),
                "preset": self.preset,
                "distance_km": float(self.distance_km.flat[i]),
                "channel_loss_db": float(self.channel_loss_db.flat[i]),
                "mu": _finite_or_none(self.mu.flat[i]),
                "gain": _finite_or_none(self.gain.flat[i]),
                "qber": _finite_or_none(self.qber.flat[i]),
                "secret_key_rate_per_pulse": float(self.secret_key_rate_per_pulse.flat[i]),
                "secret_key_rate_bps": float(self.secret_key_rate_bps.flat[i]),
                "repetition_rate_hz": self.repetition_rate_hz,
            }
            if self.decoys is not None:
                row["decoys"] = str(self.decoys)
            if self.block_size is not None:
                row["block_size"] = self.block_size
                row["epsilon"] = self.epsilon
                row["finite_bound"] = self.finite_bound
            rows.append(row)
        return rows


def secret_key_rate(
    system: QkdSystem,
    distance_km: ArrayLike,
    *,
    protocol: Protocol = Protocol.DECOY_BB84,
    mu: float | None = None,
    decoys: DecoyMethod = DecoyMethod.INFINITE,
    block_size: float | None = None,
    epsilon: float = 1e-10,
    secrecy_per_bit: float | None = None,
    finite_bound: str = "lim2014",
) -> KeyRateResult:
    """Secret key rate of ``system`` over fibre of each length in ``distance_km``.

    Parameters
    ----------
    system
        Devices and published analysis parameters (a preset, or your own record).
    distance_km
        Fibre length(s) between the two ends, >= 0.
    protocol
        Decoy-state BB84 (prepare and measure), BBM92 (source in the middle) or the PLOB bound.
    mu
        Signal intensity (BB84) or mean pair number (BBM92); optimised per distance when not given.
    decoys
        Asymptotic decoy analysis: infinitely many decoys, or the practical vacuum + weak pair.
    block_size
        When given, the finite-key rate (Lim et al. 2014) for blocks of this many key-basis detections.
    epsilon
        Secrecy parameter of the finite-key analysis, in (0, 1).
    secrecy_per_bit
        Instead of a fixed ``epsilon``, Lim et al.'s convention for their figures: ``epsilon_sec = kappa *
        l`` with ``l`` the key length (they take kappa = 1e-15). Finite key only.
    finite_bound
        The finite-key analysis: ``lim2014`` (Lim et al. 2014), ``chernoff`` (the same structure with
        Chernoff bounds, :mod:`openqci.physics.finite_key_tight`) or ``one-decoy`` (Rusca et al. 2018).

    Raises
    ------
    InvalidParameterError
        For a negative distance, ``mu <= 0``, a block size below 1 or ``epsilon`` outside (0, 1).

    Examples
    --------
    >>> from openqci.physics.presets import get_preset
    >>> result = secret_key_rate(get_preset("gys2004"), 50.0)
    >>> round(float(result.secret_key_rate_per_pulse), 6)
    0.000223
    """
    distance = require_non_negative("distance_km", distance_km)
    if mu is not None and not mu > 0:
        raise InvalidParameterError(f"mu must be > 0, got {mu!r}")
    if block_size is not None and not block_size >= 1:
        raise InvalidParameterError(f"block_size must be >= 1, got {block_size!r}")
    require_open_unit_interval("epsilon", epsilon)
    if secrecy_per_bit is not None:
        require_open_unit_interval("secrecy_per_bit", secrecy_per_bit)
        if block_size is None or protocol is not Protocol.DECOY_BB84:
            raise InvalidParameterError("secrecy_per_bit applies to finite-key decoy BB84 (give block_size)")
    if finite_bound not in FINITE_BOUNDS:
        raise InvalidParameterError(
            f"unknown finite-key bound {finite_bound!r}; choose one of: {', '.join(FINITE_BOUNDS)}"
        )
    if finite_bound != "lim2014" and (block_size is None or protocol is not Protocol.DECOY_BB84):
        raise InvalidParameterError(
            f"the {finite_bound} bound applies to finite-key decoy BB84 (give block_size)"
        )
    if finite_bound != "lim2014" and secrecy_per_bit is not None:
        raise InvalidParameterError("secrecy_per_bit applies to the lim2014 bound only")
    loss = fibre_loss_db(distance, system.fibre_attenuation_db_per_km)
    eta = fibre_transmittance(distance, system.fibre_attenuation_db_per_km)
    common: _Common = {
        "preset": system.name,
        "distance_km": distance,
        "channel_loss_db": loss,
        "repetition_rate_hz": system.source.repetition_rate_hz,
    }
    if protocol is Protocol.PLOB:
        nan = np.full(distance.shape, np.nan)
        return KeyRateResult(
            protocol=protocol,
            decoys=None,
            mu=nan,
            gain=nan,
            qber=nan,
            secret_key_rate_per_pulse=plob_bound(eta),
            **common,
        )
    if protocol is Protocol.BBM92:
        return _bbm92(system, distance, eta, mu, common)
    if block_size is not None:
        return _finite(system, distance, eta, mu, block_size, epsilon, secrecy_per_bit, finite_bound, common)
    return _asymptotic(system, distance, eta, mu, decoys, common)


def max_distance_km(
    system: QkdSystem,
    *,
    protocol: Protocol = Protocol.DECOY_BB84,
    mu: float | None = None,
    decoys: DecoyMethod = DecoyMethod.INFINITE,
    block_size: float | None = None,
    epsilon: float = 1e-10,
    secrecy_per_bit: float | None = None,
    finite_bound: str = "lim2014",
    resolution_km: float = 0.01,
) -> float:
    """Distance at which the secret key rate (optimised over ``mu`` unless given) reaches zero.

    Raises
    ------
    InvalidParameterError
        For the PLOB bound, which is positive at every distance, or if no key is possible even at 0 km.
    """
    if protocol is Protocol.PLOB:
        raise InvalidParameterError(
            "the PLOB bound is positive at every distance: it has no maximum distance"
        )

    def positive(distance: NDArray[np.float64]) -> NDArray[np.bool_]:
        result = secret_key_rate(
            system,
            distance,
            protocol=protocol,
            mu=mu,
            decoys=decoys,
            block_size=block_size,
            epsilon=epsilon,
            secrecy_per_bit=secrecy_per_bit,
            finite_bound=finite_bound,
        )
        return np.asarray(result.secret_key_rate_per_pulse > 0)

    low, high = 0.0, _SEARCH_LIMIT_KM
    if not positive(np.array([0.0]))[0]:
        raise InvalidParameterError(f"{system.name}: no secret key is possible even at 0 km")
    while high - low > resolution_km:
        grid = np.linspace(low, high, 201)
        ok = positive(grid)
        last = int(np.flatnonzero(ok).max())
        if last == grid.size - 1:
            return float(grid[-1])
        low, high = float(grid[last]), float(grid[last + 1])
    return low


def _asymptotic(
    system: QkdSystem,
    distance: NDArray[np.float64],
    eta: NDArray[np.float64],
    mu: float | None,
    decoys: DecoyMethod,
    common: _Common,
) -> KeyRateResult:
    flat_eta = eta.reshape(-1)
    if mu is None:
        best, rate = _optimise_mu(lambda m: decoy_bb84_rate(system, flat_eta, m, decoys), flat_eta.size)
    else:
        best, rate = np.full(flat_eta.size, mu), decoy_bb84_rate(system, flat_eta, mu, decoys)
    stats = expected_detection(system, flat_eta, best)
    return KeyRateResult(
        protocol=Protocol.DECOY_BB84,
        decoys=decoys,
        mu=best.reshape(distance.shape),
        gain=stats.gain.reshape(distance.shape),
        qber=stats.qber.reshape(distance.shape),
        secret_key_rate_per_pulse=_clip(rate).reshape(distance.shape),
        **common,
    )


def _finite(
    system: QkdSystem,
    distance: NDArray[np.float64],
    eta: NDArray[np.float64],
    mu: float | None,
    block_size: float,
    epsilon: float,
    secrecy_per_bit: float | None,
    finite_bound: str,
    common: _Common,
) -> KeyRateResult:
    if finite_bound == "lim2014":
        result = finite_key_rate(
            system,
            eta.reshape(-1),
            block_size=block_size,
            epsilon_sec=epsilon,
            mu=mu,
            secrecy_per_bit=secrecy_per_bit,
        )
    else:
        from openqci.physics.finite_key_tight import tight_finite_key_rate

        result = tight_finite_key_rate(
            system,
            eta.reshape(-1),
            block_size=block_size,
            epsilon_sec=epsilon,
            mu=mu,
            decoys=1 if finite_bound == "one-decoy" else 2,
        )
    return KeyRateResult(
        protocol=Protocol.DECOY_BB84,
        decoys=None,
        mu=result.mu.reshape(distance.shape),
        gain=result.signal_gain.reshape(distance.shape),
        qber=result.qber.reshape(distance.shape),
        secret_key_rate_per_pulse=result.rate_per_pulse.reshape(distance.shape),
        block_size=float(block_size),
        epsilon=epsilon,
        finite_bound=finite_bound,
        **common,
    )


def _bbm92(
    system: QkdSystem,
    distance: NDArray[np.float64],
    eta: NDArray[np.float64],
    mu: float | None,
    common: _Common,
) -> KeyRateResult:
    half = fibre_transmittance(distance.reshape(-1) / 2.0, system.fibre_attenuation_db_per_km)
    if mu is None:
        best, rate = _optimise_mu(lambda m: bbm92_rate(system, half, half, m), half.size)
    else:
        best, rate = np.full(half.size, mu), bbm92_rate(system, half, half, mu)
    gain, qber = bbm92_statistics(system, half, half, best)
    return KeyRateResult(
        protocol=Protocol.BBM92,
        decoys=None,
        mu=best.reshape(distance.shape),
        gain=gain.reshape(distance.shape),
        qber=qber.reshape(distance.shape),
        secret_key_rate_per_pulse=_clip(rate).reshape(distance.shape),
        **common,
    )


def _optimise_mu(rate: object, columns: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Best intensity per distance: a log grid picks the start, the compass search refines it."""
    assert callable(rate)
    grid = np.geomspace(_MU_RANGE[0], _MU_RANGE[1], 40)
    values = np.nan_to_num(np.stack([rate(np.full(columns, m)) for m in grid]), nan=-np.inf)
    start = grid[np.argmax(values, axis=0)]
    best, value = maximise(
        lambda x: rate(x[0]), start[None, :], [_MU_RANGE[0]], [_MU_RANGE[1]], iterations=60
    )
    return best[0], value


def _clip(rate: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(np.maximum(np.nan_to_num(rate, nan=0.0, neginf=0.0), 0.0), dtype=np.float64)


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
