"""One call behind ``openqci link run``: a link simulated for a given time, summarised as one record.

The link runs at the source settings that are finite-key-optimal for its block size and fibre
(:func:`openqci.link.settings.optimal_settings`), as Lim et al. choose them, unless asked to keep the
preset's own: a preset's listed intensities and basis bias are one design point, and a biased-basis
preset such as yuan2018 makes no key at all with them at block sizes a link can hold.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from openqci.link.cascade import Cascade
from openqci.link.channel import ClassicalChannel, InProcessChannel, TamperingChannel
from openqci.link.errors import InvalidLinkParameterError, ReconcilerUnavailableError
from openqci.link.eve import ClassicalTampering, parse_eavesdropper
from openqci.link.reconciliation import Reconciler
from openqci.link.session import BlockOutcome, LinkConfig, LinkSession
from openqci.link.settings import optimal_settings
from openqci.physics.channels import FibreChannel
from openqci.physics.detection import expected_detection
from openqci.physics.devices import QkdSystem
from openqci.physics.presets import get_preset

__all__ = [
    "RECONCILIATION_METHODS",
    "LinkRunReport",
    "continuous_link_config",
    "make_reconciler",
    "run_link",
]

MIN_BLOCK_BITS = 1024
"""The smallest block a link run takes (``LinkConfig``'s own floor)."""

RECONCILIATION_METHODS = ("cascade", "ldpc")
"""Names accepted by :func:`make_reconciler`."""


@dataclass(frozen=True)
class LinkRunReport:
    """Totals of a link run; :meth:`record` gives the ``openqci link run --json`` object."""

    preset: str
    distance_km: float
    duration_s: float
    eve: str | None
    reconciliation: str
    blocks: int
    blocks_aborted: int
    basis_prob_x: float
    intensities: tuple[float, ...]
    intensity_probabilities: tuple[float, ...]
    pulses_sent: int
    detections: int
    sifted_bits: int
    qber: float
    ec_efficiency: float
    leaked_ec_bits: int
    auth_key_consumed_bits: int
    final_key_bits: int
    secret_key_rate_bps: float
    keys_identical: bool | None
    aborted: bool
    abort_reason: str | None
    abort_reasons: dict[str, int]
    wall_s: float
    real_time_factor: float

    def record(self) -> dict[str, Any]:
        """The report as a JSON-ready dictionary."""
        return asdict(self)


def make_reconciler(name: str) -> Reconciler:
    """The reconciler called ``name``; LDPC is imported only when asked for.

    Raises
    ------
    InvalidLinkParameterError
        For a name not in :data:`RECONCILIATION_METHODS`.
    ReconcilerUnavailableError
        When the LDPC module cannot be imported.
    """
    if name == "cascade":
        return Cascade()
    if name == "ldpc":
        try:
            from openqci.link.ldpc import LdpcReconciler
        except ImportError as error:
            raise ReconcilerUnavailableError(f"LDPC reconciliation is not available: {error}") from None
        reconciler: Reconciler = LdpcReconciler()
        return reconciler
    raise InvalidLinkParameterError(
        f"unknown reconciliation {name!r}; choose one of: {', '.join(RECONCILIATION_METHODS)}"
    )


def run_link(
    *,
    preset: str | QkdSystem,
    distance_km: float,
    duration_s: float,
    reconciliation: str = "cascade",
    eve: str | None = None,
    block_bits: int = 1 << 20,
    rng: np.random.Generator,
    progress: Callable[[int, int], None] | None = None,
    overlap: bool = True,
    optimise_settings: bool = True,
) -> LinkRunReport:
    """Simulate a fibre link for ``duration_s`` seconds of transmission and post-process every block.

    The duration is cut into equal blocks of about ``block_bits`` sifted key-basis bits (one block when
    the whole run gives fewer). With ``optimise_settings`` the source runs the finite-key-optimal
    intensities, probabilities and basis bias for that block size (the report names them); without, the
    preset's own. ``progress(done, total)`` is called after each block. With ``overlap`` the next block
    is transmitted while this one is post-processed (:meth:`LinkSession.stream`). ``preset`` is a
    preset's name or a system of one's own (:class:`~openqci.physics.devices.QkdSystem`).
    """
    if not duration_s > 0:
        raise InvalidLinkParameterError(f"the duration must be > 0 seconds, got {duration_s:g}")
    if not distance_km >= 0:
        raise InvalidLinkParameterError(f"the distance must be >= 0 km, got {distance_km:g}")
    if block_bits < MIN_BLOCK_BITS:
        raise InvalidLinkParameterError(f"blocks must hold at least {MIN_BLOCK_BITS} bits, got {block_bits}")
    system = _system(preset)
    fibre = FibreChannel(distance_km, system.fibre_attenuation_db_per_km)
    transmittance = float(fibre.transmittance(0.0))
    pulses = round(duration_s * system.source.repetition_rate_hz)
    if optimise_settings:
        system = _settings_for_run(system, transmittance, pulses, block_bits)
    blocks = max(1, round(pulses * _sifted_per_pulse(system, transmittance) / block_bits))
    attack = parse_eavesdropper(eve) if eve else None
    channel_rng, session_rng = rng.spawn(2)
    channel: ClassicalChannel = (
        TamperingChannel(attack, rng=channel_rng)
        if isinstance(attack, ClassicalTampering)
        else InProcessChannel()
    )
    config = LinkConfig(
        system,
        fibre,
        make_reconciler(reconciliation),
        link_id=f"{system.name}-{distance_km:g}km",
        block_bits=block_bits,
        block_pulses=max(pulses // blocks, 1),
    )
    quantum = None if isinstance(attack, ClassicalTampering) else attack
    session = LinkSession(config, channel=channel, rng=session_rng, attack=quantum)
    start, outcomes = time.perf_counter(), []
    for done, outcome in enumerate(session.stream(blocks, overlap=overlap), start=1):
        outcomes.append(outcome)
        if progress is not None:
            progress(done, blocks)
    wall = time.perf_counter() - start
    return _summarise(outcomes, system, system.name, distance_km, eve, reconciliation, wall)


def continuous_link_config(
    preset: str | QkdSystem,
    distance_km: float,
    *,
    link_id: str,
    block_bits: int = 1 << 20,
    reconciliation: str = "cascade",
) -> LinkConfig:
    """A fibre link that runs block after block for as long as it is kept running.

    The settings are finite-key-optimal for blocks of ``block_bits`` sifted key-basis bits, and each
    block sends the pulses that gather about that many, so every block lasts the same simulated time.
    """
    if not distance_km >= 0:
        raise InvalidLinkParameterError(f"the distance must be >= 0 km, got {distance_km:g}")
    system = _system(preset)
    fibre = FibreChannel(distance_km, system.fibre_attenuation_db_per_km)
    transmittance = float(fibre.transmittance(0.0))
    epsilon = LinkConfig.epsilon_sec, LinkConfig.epsilon_cor
    tuned = optimal_settings(
        system, transmittance, key_bits=block_bits, epsilon_sec=epsilon[0], epsilon_cor=epsilon[1]
    )
    block_pulses = max(1, round(block_bits / _sifted_per_pulse(tuned, transmittance)))
    return LinkConfig(
        tuned,
        fibre,
        make_reconciler(reconciliation),
        link_id=link_id,
        block_bits=block_bits,
        block_pulses=block_pulses,
    )


def _system(preset: str | QkdSystem) -> QkdSystem:
    """A preset by name, or the caller's own system as it is."""
    return get_preset(preset) if isinstance(preset, str) else preset


def _sifted_per_pulse(system: QkdSystem, transmittance: float) -> float:
    """Expected sifted key-basis bits per pulse sent."""
    gains = expected_detection(system, transmittance, np.array(system.source.intensities)).gain
    return float(np.dot(system.source.probabilities, gains)) * system.basis_prob_x**2


def _settings_for_run(system: QkdSystem, transmittance: float, pulses: int, block_bits: int) -> QkdSystem:
    """The optimal settings for the blocks the run will make: ``block_bits``, or the whole run if shorter."""
    epsilon = LinkConfig.epsilon_sec, LinkConfig.epsilon_cor
    tuned = optimal_settings(
        system, transmittance, key_bits=block_bits, epsilon_sec=epsilon[0], epsilon_cor=epsilon[1]
    )
    whole_run = pulses * _sifted_per_pulse(tuned, transmittance)
    if whole_run >= block_bits / 2 or whole_run < 1:
        return tuned
    return optimal_settings(
        system, transmittance, key_bits=whole_run, epsilon_sec=epsilon[0], epsilon_cor=epsilon[1]
    )


def _summarise(
    outcomes: list[BlockOutcome],
    system: QkdSystem,
    preset: str,
    distance_km: float,
    eve: str | None,
    method: str,
    wall: float,
) -> LinkRunReport:
    """Add the blocks up; efficiency and QBER are weighted by the bits they apply to."""
    simulated = sum(o.duration_s for o in outcomes)
    corrected = [o for o in outcomes if math.isfinite(o.ec_efficiency)]
    sifted_corrected = sum(o.sifted_bits for o in corrected)
    sifted = sum(o.sifted_bits for o in outcomes)
    qber = (
        sum(o.qber * o.sifted_bits for o in corrected) / sifted_corrected
        if sifted_corrected
        else sum(o.qber_z * o.sifted_bits for o in outcomes) / max(sifted, 1)
    )
    ideal = sum(o.leaked_ec_bits / o.ec_efficiency for o in corrected if o.ec_efficiency > 0)
    leaked = sum(o.leaked_ec_bits for o in outcomes)
    reasons = Counter(o.abort_reason.value for o in outcomes if o.abort_reason is not None)
    final = sum(o.final_key_bits for o in outcomes)
    identical = [o.keys_identical for o in outcomes if o.keys is not None]
    return LinkRunReport(
        preset=preset,
        distance_km=distance_km,
        duration_s=simulated,
        eve=eve,
        reconciliation=method,
        blocks=len(outcomes),
        blocks_aborted=sum(reasons.values()),
        basis_prob_x=system.basis_prob_x,
        intensities=tuple(system.source.intensities),
        intensity_probabilities=tuple(system.source.probabilities),
        pulses_sent=sum(o.pulses_sent for o in outcomes),
        detections=sum(o.detections for o in outcomes),
        sifted_bits=sifted,
        qber=float(qber),
        ec_efficiency=float(leaked / ideal) if ideal > 0 else float("nan"),
        leaked_ec_bits=leaked,
        auth_key_consumed_bits=sum(o.auth_key_consumed_bits for o in outcomes),
        final_key_bits=final,
        secret_key_rate_bps=final / simulated if simulated > 0 else 0.0,
        keys_identical=all(identical) if identical else None,
        aborted=final == 0,
        abort_reason=reasons.most_common(1)[0][0] if reasons and final == 0 else None,
        abort_reasons=dict(reasons),
        wall_s=wall,
        real_time_factor=simulated / wall if wall > 0 else float("inf"),
    )
