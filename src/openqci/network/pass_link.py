"""Key from one satellite pass made by the link engine: events sampled over the pass, then post-processing.

:func:`run_pass_link` runs a downlink pass as a link of :mod:`openqci.link`, with the satellite as Alice
and the ground station as Bob. The :class:`~openqci.space.channel.FreeSpaceChannel` of the pass is the
quantum channel, sampled slice by slice at the track's step (one second by default), so the loss moving
from about 30 dB to 40 dB over the pass is what the detections follow. The whole pass is one block, as
:func:`~openqci.space.pass_key.pass_key` takes it: sifting, decoy estimation from the observed counts,
error correction, verification, privacy amplification and authentication turn it into the same KeyBlock
at the satellite and at the station, or into an abort reason and no key.

Beside the simulated key stands the planning model's expected key for the protocol the engine runs: key
from the X basis only (the Z basis is the test basis, whatever the mission's ``key_from_both_bases``), the
mission's security parameters, and the efficiency ``f`` the reconciler actually reached. The two differ by
statistical fluctuation and the authentication key the engine spends.

The engine samples one detector model per pass, so the sky background is the night sky's when the Sun
stays below :data:`~openqci.space.stations.NIGHT_SUN_ELEVATION_DEG` for the whole pass and the day sky's
otherwise (conservative); :func:`pass_key` switches second by second, and the two agree on night passes.

It lives in :mod:`openqci.network` because it joins two layers: :mod:`openqci.space` may import only
physics, and the network layer is the one that may use both the link engine and the space segment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from openqci.keysource import KeyBlock
from openqci.link.cascade import Cascade
from openqci.link.channel import InProcessChannel
from openqci.link.reconciliation import Reconciler
from openqci.link.session import BlockOutcome, LinkConfig, LinkSession
from openqci.space.channel import FreeSpaceChannel
from openqci.space.orbits import Satellite
from openqci.space.pass_key import PassKey, _with_sky, pass_key
from openqci.space.passes import Pass, pass_track
from openqci.space.presets import SpaceMission
from openqci.space.stations import NIGHT_SUN_ELEVATION_DEG, GroundStation

__all__ = ["PassLinkReport", "run_pass_link"]


@dataclass(frozen=True)
class PassLinkReport:
    """What the link engine made of one pass, next to what the planning model expects.

    Attributes
    ----------
    window
        The pass.
    outcome
        The engine's block: counts, QBER, leakage, abort reason, per-slice detections, and both ends'
        KeyBlocks when key was made.
    expected
        :func:`~openqci.space.pass_key.pass_key` for the engine's protocol (X-basis key, the achieved ``f``).
    night
        Whether the whole pass was flown under the night sky.
    """

    window: Pass
    outcome: BlockOutcome
    expected: PassKey
    night: bool

    @property
    def keys(self) -> tuple[KeyBlock, KeyBlock] | None:
        """The satellite's and the station's KeyBlocks (``None`` when the pass made no key)."""
        return self.outcome.keys

    @property
    def final_key_bits(self) -> int:
        """Key delivered to both ends, net of the authentication key spent on the pass."""
        return self.outcome.final_key_bits

    def record(self) -> dict[str, Any]:
        """The simulated pass as a JSON-ready dictionary."""
        outcome = self.outcome
        return {
            "final_key_bits": outcome.final_key_bits,
            "expected_key_bits": self.expected.secret_key_bits,
            "detections": outcome.detections,
            "key_basis_bits": outcome.sifted_bits,
            "qber": round(outcome.qber if outcome.keys is not None else outcome.qber_z, 5),
            "ec_efficiency": None if math.isnan(outcome.ec_efficiency) else round(outcome.ec_efficiency, 4),
            "leaked_ec_bits": outcome.leaked_ec_bits,
            "auth_key_consumed_bits": outcome.auth_key_consumed_bits,
            "keys_identical": outcome.keys_identical,
            "abort_reason": None if outcome.abort_reason is None else outcome.abort_reason.value,
            "slices": len(outcome.slices),
            "night": self.night,
        }


def run_pass_link(
    mission: SpaceMission,
    satellite: Satellite,
    station: GroundStation,
    window: Pass,
    *,
    rng: np.random.Generator,
    reconciler: Reconciler | None = None,
    step_s: float = 1.0,
    auth_key_bits: int = 1 << 16,
) -> PassLinkReport:
    """Run the link engine over one pass of ``satellite`` over ``station``, the whole pass as one block.

    Parameters
    ----------
    mission
        Source, detectors and free-space link of the downlink, and its security parameters.
    satellite, station, window
        The pass (``window`` as :func:`~openqci.space.passes.find_passes` gives it; a shorter window cut
        from it runs only that stretch). The station's aperture is the receiving telescope's.
    rng
        Every random choice of the run: the satellite's and the station's, nature's, the public seeds.
    reconciler
        Error correction; Cascade by default.
    step_s
        Track step, and the longest slice sampled with one transmittance.
    auth_key_bits
        Pre-shared authentication key at each end.

    Returns
    -------
    PassLinkReport
        The engine's block with both ends' KeyBlocks, and the planning model's expected key.

    Examples
    --------
    The first minute of a night pass over Xinglong:

    >>> from datetime import UTC, datetime, timedelta
    >>> from openqci.space.passes import find_passes
    >>> from openqci.space.presets import get_mission
    >>> start = datetime(2017, 1, 1, tzinfo=UTC)
    >>> satellite = Satellite.from_elements(
    ...     "sat", epoch=start, altitude_km=500.0, inclination_deg=97.4, raan_deg=109.2
    ... )
    >>> xinglong = GroundStation("Xinglong", 40.3956, 117.575, 900.0, night_only=True)
    >>> window = find_passes(satellite, xinglong, start, 86_400.0)[0]
    >>> minute = replace(window, end=window.start + timedelta(seconds=60))
    >>> micius = get_mission("micius2017")
    >>> report = run_pass_link(micius, satellite, xinglong, minute, rng=np.random.default_rng(1))
    >>> len(report.outcome.slices), report.night, report.outcome.detections > 10_000
    (60, True, True)
    """
    track = pass_track(satellite, station, window, step_s=step_s)
    night = bool(np.all(track.sun_elevation_deg < NIGHT_SUN_ELEVATION_DEG))
    radiance = mission.night_sky_radiance if night else mission.day_sky_radiance
    system = _with_sky(mission, station, radiance)
    config = LinkConfig(
        system,
        FreeSpaceChannel(track, mission.link, station.aperture_m),
        reconciler if reconciler is not None else Cascade(),
        link_id=f"{window.satellite}/{window.station}",
        epsilon_sec=mission.epsilon_sec,
        epsilon_cor=mission.epsilon_cor,
        auth_key_bits=auth_key_bits,
        block_pulses=max(1, round(window.duration_s * system.source.repetition_rate_hz)),
        slice_s=step_s,
    )
    outcome = LinkSession(config, channel=InProcessChannel(), rng=rng).run_block()
    efficiency = outcome.ec_efficiency if math.isfinite(outcome.ec_efficiency) else None
    expected = pass_key(_engine_protocol(mission, efficiency), station, [track])
    return PassLinkReport(window=window, outcome=outcome, expected=expected, night=night)


def _engine_protocol(mission: SpaceMission, ec_efficiency: float | None) -> SpaceMission:
    """The mission as the engine runs it: X-basis key, and the reconciler's ``f`` when it got that far."""
    system = mission.system if ec_efficiency is None else replace(mission.system, ec_efficiency=ec_efficiency)
    return replace(mission, system=system, key_from_both_bases=False)
