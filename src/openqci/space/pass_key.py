"""Secret key from satellite passes: expected detections over a pass, then the finite-key bound on the block.

Each second of a sampled pass gives the channel transmittance (:mod:`openqci.space.channel`), the background
(night or day sky, :mod:`openqci.space.background`) and so, through the physics detection model, the gain and
error probability of every intensity. Summed over the pass they are the decoy counts of one block, and the
Lim et al. (2014) bound turns them into a key length, with the whole pass as the block (or several passes as
one block, as a satellite that stores its detections may do). Error correction is charged ``f h(E_X) n_X``.

Counts are expected values: this is the planning model. The link engine draws the actual events.

Turbulence fading (a link with a turbulence profile, :mod:`openqci.space.turbulence`): the block observes the
counts summed over many fades, so at each second the gain and error probability are averaged over the
distribution of the transmittance (log-normal around the budget's mean, by quadrature) before they are summed.
Both are concave in the transmittance (``1 - exp(-eta mu)``), so fading can only lower them, by a fraction
of about ``eta mu sigma_I^2 / 2`` (Jensen's inequality). Only the multi-photon yields fall: the single-photon
yield and its errors are linear in the transmittance and keep their values, so the decoy bound gets slightly
tighter and fading gives a little key rather than costing it. With satellite losses (``eta mu`` below 1e-3)
and a metre-class receiver (``sigma_I^2`` of 1e-4 to 1e-2) that is a fraction of a bit per pass;
:class:`PassKey` reports it. What fading does cost a real pass (tracking dropouts, detector saturation, a
QBER threshold applied second by second) is outside this planning model. The averaging is off unless the
mission's link has a turbulence profile (none of the presets has).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from openqci.physics.detection import DetectionStatistics, expected_detection
from openqci.physics.devices import QkdSystem
from openqci.physics.entropy import binary_entropy
from openqci.physics.finite_key import DecoyCounts, lim2014_key_length
from openqci.space.background import background_count_prob
from openqci.space.channel import FreeSpaceChannel
from openqci.space.errors import InvalidWindowError
from openqci.space.passes import PassTrack
from openqci.space.presets import SpaceMission
from openqci.space.stations import NIGHT_SUN_ELEVATION_DEG, GroundStation

__all__ = ["FADING_NODES", "PassKey", "PassProfile", "pass_key", "pass_profile"]

FADING_NODES = 32
"""Quadrature nodes over the fading distribution at each sample (equal-probability slices)."""


@dataclass(frozen=True)
class PassProfile:
    """Per-sample view of one pass: loss, detection rate, and the expected counts behind the key.

    ``n_x``, ``n_z``, ``m_x`` and ``m_z`` have shape ``(intensities, samples)``: sifted detections and errors
    in each basis per sample interval, averaged over the fading where the link has a turbulence profile.
    ``scintillation_index`` is the aperture-averaged ``sigma_I^2`` at each sample (``None`` if the link has no
    turbulence profile).
    """

    track: PassTrack
    loss_db: NDArray[np.float64]
    detection_rate_hz: NDArray[np.float64]
    sifted_rate_bps: NDArray[np.float64]
    n_x: NDArray[np.float64]
    n_z: NDArray[np.float64]
    m_x: NDArray[np.float64]
    m_z: NDArray[np.float64]
    scintillation_index: NDArray[np.float64] | None = None


@dataclass(frozen=True)
class PassKey:
    """The key one block of passes yields, with every parameter of the finite-key analysis used.

    Attributes
    ----------
    passes, duration_s
        How many passes make the block and their summed length.
    loss_db_min, loss_db_max
        Range of the link loss over the block (dB, transmitter output to detector input).
    detections, sifted_bits
        Expected clicks, and those left after basis sifting (both bases, all intensities).
    key_basis_bits
        Sifted bits of the basis (or bases) that make key: ``n_X`` of the bound.
    qber, phase_error
        Observed bit error rate and the bound's phase-error rate (the worse basis when both make key).
    leaked_ec_bits
        Error-correction disclosure charged, ``f h(E) n``.
    secret_key_bits
        Final key length (0 when no key can be proven).
    epsilon_sec, epsilon_cor, ec_efficiency, intensities, probabilities, basis_prob_x
        The parameters the bound was evaluated with.
    key_without_fading_bits
        Where the link fades (it has a turbulence profile): the key of the same block at the mean
        transmittance only; ``None`` otherwise.
    fading_key_change_bits
        Key length with fading minus without, before either is rounded down (negative: fading costs key);
        0 without fading.
    """

    passes: int
    duration_s: float
    loss_db_min: float
    loss_db_max: float
    detections: float
    sifted_bits: float
    key_basis_bits: float
    qber: float
    phase_error: float
    leaked_ec_bits: float
    secret_key_bits: int
    epsilon_sec: float
    epsilon_cor: float
    ec_efficiency: float
    intensities: tuple[float, ...]
    probabilities: tuple[float, ...]
    basis_prob_x: float
    key_without_fading_bits: int | None = None
    fading_key_change_bits: float = 0.0


def pass_profile(mission: SpaceMission, station: GroundStation, track: PassTrack) -> PassProfile:
    """Expected loss, detections and decoy counts at every sample of a pass over ``station``.

    Where the mission's link has a turbulence profile the gain and errors of each sample are averaged over
    its fading distribution; the loss stays the mean's.
    """
    channel = FreeSpaceChannel(track, mission.link, station.aperture_m)
    loss_db = channel.loss_db(track.time_s)
    index = None
    if mission.link.turbulence is None:
        stats = _detection(mission, station, track, channel.transmittance(track.time_s))
    else:
        fading = channel.fading()
        nodes, weights = fading.quadrature(FADING_NODES)
        faded = _detection(mission, station, track, nodes)
        stats = DetectionStatistics(gain=faded.gain @ weights, error=faded.error @ weights)
        index = fading.scintillation_index
    source, px = mission.system.source, mission.system.basis_prob_x
    interval_s = _intervals(track.time_s)
    pulses = source.repetition_rate_hz * np.asarray(source.probabilities)[:, None] * interval_s
    gain, error = pulses * stats.gain, pulses * stats.error
    rate = np.sum(gain, axis=0) / interval_s
    return PassProfile(
        track=track,
        loss_db=loss_db,
        detection_rate_hz=rate,
        sifted_rate_bps=rate * mission.system.sifting_factor,
        n_x=px**2 * gain,
        n_z=(1 - px) ** 2 * gain,
        m_x=px**2 * error,
        m_z=(1 - px) ** 2 * error,
        scintillation_index=index,
    )


def pass_key(mission: SpaceMission, station: GroundStation, tracks: Sequence[PassTrack]) -> PassKey:
    """Secret key from ``tracks`` taken as one finite-key block (one track: the usual one pass per block).

    Raises
    ------
    InvalidWindowError
        If no track is given.

    References
    ----------
    Lim, Curty, Walenta, Xu, Zbinden, PRA 89, 022307 (2014), Eqs. 1-5.
    """
    if not tracks:
        raise InvalidWindowError("pass_key needs at least one pass track")
    profiles = [pass_profile(mission, station, track) for track in tracks]
    key, length = _block_key(mission, profiles)
    if mission.link.turbulence is None:
        return key
    steady = replace(mission, link=replace(mission.link, turbulence=None))
    without, steady_length = _block_key(steady, [pass_profile(steady, station, track) for track in tracks])
    return replace(
        key, key_without_fading_bits=without.secret_key_bits, fading_key_change_bits=length - steady_length
    )


def _block_key(mission: SpaceMission, profiles: list[PassProfile]) -> tuple[PassKey, float]:
    """The bound on the block of ``profiles``, and the key length before rounding down."""
    n_x, n_z, m_x, m_z = (_total(profiles, name) for name in ("n_x", "n_z", "m_x", "m_z"))
    halves = [(n_x, n_z, m_z, m_x)] + ([(n_z, n_x, m_x, m_z)] if mission.key_from_both_bases else [])
    shares = [_basis_key(mission, *half, parts=len(halves)) for half in halves]
    key_length = sum(share[0] for share in shares)
    leaked = sum(share[1] for share in shares)
    phase_error = max(share[2] for share in shares)
    qber = float((np.sum(m_x) + np.sum(m_z)) / (np.sum(n_x) + np.sum(n_z)))
    key_bits = float(sum(np.sum(half[0]) for half in halves))
    summary = _summary(mission, profiles, (n_x, n_z, key_bits), qber, leaked, phase_error, key_length)
    return summary, key_length


def _total(profiles: list[PassProfile], name: str) -> NDArray[np.float64]:
    """Counts of one kind (``n_x``, ...) per intensity, summed over every sample of every pass."""
    return np.asarray(np.sum([np.sum(getattr(p, name), axis=1) for p in profiles], axis=0), dtype=np.float64)


def _basis_key(
    mission: SpaceMission,
    key_counts: NDArray[np.float64],
    test_counts: NDArray[np.float64],
    test_errors: NDArray[np.float64],
    key_errors: NDArray[np.float64],
    *,
    parts: int,
) -> tuple[float, float, float]:
    """Key length, leaked bits and phase-error bound of one basis's key; ``parts`` splits the epsilons."""
    qber = float(np.sum(key_errors) / np.sum(key_counts))
    leaked = mission.system.ec_efficiency * float(binary_entropy(qber)) * float(np.sum(key_counts))
    system = mission.system.source
    counts = DecoyCounts(
        np.asarray(system.intensities), np.asarray(system.probabilities), key_counts, test_counts, test_errors
    )
    bound = lim2014_key_length(
        counts,
        leaked_ec_bits=leaked,
        epsilon_sec=mission.epsilon_sec / parts,
        epsilon_cor=mission.epsilon_cor / parts,
    )
    length = float(bound.key_length_bits)
    return (length if np.isfinite(length) and length > 0 else 0.0), leaked, float(bound.phase_error)


def _detection(
    mission: SpaceMission, station: GroundStation, track: PassTrack, transmittance: NDArray[np.float64]
) -> DetectionStatistics:
    """Gain and error per pulse for every intensity (first axis) and sample, night or day background.

    ``transmittance`` has the samples on its first axis and, where the fading is resolved, its nodes on the
    second; the statistics have the intensities in front of those.
    """
    extra = (1,) * (transmittance.ndim - 1)
    mu = np.asarray(mission.system.source.intensities).reshape(-1, 1, *extra)
    night = expected_detection(_with_sky(mission, station, mission.night_sky_radiance), transmittance, mu)
    day = expected_detection(_with_sky(mission, station, mission.day_sky_radiance), transmittance, mu)
    is_night = (track.sun_elevation_deg < NIGHT_SUN_ELEVATION_DEG).reshape(-1, *extra)
    return DetectionStatistics(
        gain=np.where(is_night, night.gain, day.gain), error=np.where(is_night, night.error, day.error)
    )


def _with_sky(mission: SpaceMission, station: GroundStation, radiance: float) -> QkdSystem:
    """The mission's QKD system with sky background added to each detector's dark-count probability."""
    system, link = mission.system, mission.link
    extra = background_count_prob(
        radiance,
        receiver_aperture_m=station.aperture_m,
        field_of_view_urad=link.receiver_fov_urad,
        filter_bandwidth_nm=mission.filter_bandwidth_nm,
        wavelength_nm=link.wavelength_nm,
        receiver_transmittance=10 ** (-link.receiver_optics_loss_db / 10) * system.receiver_efficiency,
        window_s=mission.detection_window_s,
    )
    dark = 1.0 - (1.0 - system.detector.dark_count_prob) * (1.0 - extra)
    return replace(system, detector=replace(system.detector, dark_count_prob=dark))


def _intervals(time_s: NDArray[np.float64]) -> NDArray[np.float64]:
    """Length of time each sample stands for (trapezoid weights), so the sums integrate over the pass."""
    if time_s.size < 2:
        return np.zeros_like(time_s)
    steps = np.diff(time_s)
    return np.concatenate([[steps[0] / 2], (steps[:-1] + steps[1:]) / 2, [steps[-1] / 2]])


def _summary(
    mission: SpaceMission,
    profiles: list[PassProfile],
    sifted: tuple[NDArray[np.float64], NDArray[np.float64], float],
    qber: float,
    leaked: float,
    phase_error: float,
    key_length: float,
) -> PassKey:
    """Collect the block's figures into a :class:`PassKey`."""
    losses = np.concatenate([p.loss_db for p in profiles])
    source, (n_x, n_z, key_bits) = mission.system.source, sifted
    detections = sum(float(np.sum(p.detection_rate_hz * _intervals(p.track.time_s))) for p in profiles)
    return PassKey(
        passes=len(profiles),
        duration_s=sum(float(p.track.time_s[-1] - p.track.time_s[0]) for p in profiles),
        loss_db_min=float(np.min(losses)),
        loss_db_max=float(np.max(losses)),
        detections=detections,
        sifted_bits=float(np.sum(n_x) + np.sum(n_z)),
        key_basis_bits=key_bits,
        qber=qber,
        phase_error=phase_error,
        leaked_ec_bits=leaked,
        secret_key_bits=int(np.floor(key_length)),
        epsilon_sec=mission.epsilon_sec,
        epsilon_cor=mission.epsilon_cor,
        ec_efficiency=mission.system.ec_efficiency,
        intensities=source.intensities,
        probabilities=source.probabilities,
        basis_prob_x=mission.system.basis_prob_x,
    )
