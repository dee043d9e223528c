"""A link over a channel whose transmittance changes with time, sampled slice by slice."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from openqci.link import ldpc
from openqci.link.cascade import Cascade
from openqci.link.channel import InProcessChannel
from openqci.link.errors import InvalidLinkParameterError
from openqci.link.reconciliation import ReconciliationResult
from openqci.link.session import AbortReason, BlockOutcome, LinkConfig, LinkSession
from openqci.physics.channels import Channel, FibreChannel, db_to_transmittance, fibre_transmittance
from openqci.physics.detection import expected_detection
from openqci.physics.devices import QkdSystem
from openqci.physics.presets import get_preset


@dataclass(frozen=True)
class RampChannel:
    """Loss moving linearly from ``start_db`` to ``end_db`` over ``duration_s``, as one half of a pass."""

    start_db: float
    end_db: float
    duration_s: float

    def loss_db(self, time_s: ArrayLike) -> NDArray[np.float64]:
        share = np.clip(np.asarray(time_s, dtype=np.float64) / self.duration_s, 0.0, 1.0)
        return np.asarray(self.start_db + (self.end_db - self.start_db) * share)

    def transmittance(self, time_s: ArrayLike) -> NDArray[np.float64]:
        return db_to_transmittance(self.loss_db(time_s))


class RecordingReconciler:
    """Cascade underneath, with no preferred frame: records the length of every call."""

    name = "recording"

    def __init__(self) -> None:
        self.calls: list[int] = []

    def reconcile(
        self,
        alice_bits: NDArray[np.bool_],
        bob_bits: NDArray[np.bool_],
        qber: float,
        *,
        rng: np.random.Generator,
    ) -> ReconciliationResult:
        self.calls.append(int(alice_bits.size))
        return Cascade().reconcile(alice_bits, bob_bits, qber, rng=rng)


def _clicks_per_pulse(system: QkdSystem, transmittance: ArrayLike) -> NDArray[np.float64]:
    """Expected detections per pulse of the intensity mixture (physics model), one per transmittance."""
    eta = np.asarray(transmittance, dtype=np.float64)[None, :]
    gains = expected_detection(system, eta, np.array(system.source.intensities)[:, None]).gain
    return np.asarray(np.dot(system.source.probabilities, gains))


def _run(config: LinkConfig, rng: np.random.Generator, blocks: int = 1) -> list[BlockOutcome]:
    return list(LinkSession(config, channel=InProcessChannel(), rng=rng).stream(blocks))


def test_ramp_channel_is_a_physics_channel() -> None:
    assert isinstance(RampChannel(30.0, 40.0, 60.0), Channel)


def test_slice_detections_follow_the_transmittance(rng: np.random.Generator) -> None:
    system = get_preset("micius2017")  # 100 MHz
    channel = RampChannel(30.0, 40.0, 60.0)  # the loss of a Micius pass, climbing over a minute
    config = LinkConfig(system, channel, Cascade(), block_pulses=60 * 10**8, slice_s=1.0)
    (outcome,) = _run(config, rng)
    slices = outcome.slices
    assert len(slices) == 60
    assert [s.start_s for s in slices] == pytest.approx(np.arange(60.0))
    assert {s.pulses for s in slices} == {10**8}
    assert outcome.pulses_sent == 60 * 10**8
    assert outcome.duration_s == pytest.approx(60.0)
    counts = np.array([s.detections for s in slices], dtype=np.float64)
    midpoints = np.array([s.start_s + s.duration_s / 2 for s in slices])
    expected = 10**8 * _clicks_per_pulse(system, channel.transmittance(midpoints))
    z = (counts - expected) / np.sqrt(expected)
    assert np.max(np.abs(z)) < 5.0
    chi2 = float(np.sum(z**2))
    assert stats.chi2.sf(chi2, len(slices)) > 1e-4
    assert stats.chi2.cdf(chi2, len(slices)) > 1e-4
    # The same counts against one mean transmittance for the whole minute fail by far.
    flat = 10**8 * _clicks_per_pulse(system, np.full(60, np.mean(channel.transmittance(midpoints))))
    assert float(np.sum((counts - flat) ** 2 / flat)) > 100 * len(slices)


def test_constant_channel_gives_the_same_block_as_before(rng: np.random.Generator) -> None:
    system = get_preset("lim2014")
    fibre = FibreChannel(25.0, system.fibre_attenuation_db_per_km)
    eta = float(fibre_transmittance(25.0, system.fibre_attenuation_db_per_km))
    block_bits = 1 << 19
    seed = int(rng.integers(2**32))
    outcomes = [
        _run(LinkConfig(system, channel, Cascade(), block_bits=block_bits), np.random.default_rng(seed))[0]
        for channel in (eta, fibre)
    ]
    shorthand, channel = outcomes
    assert shorthand.keys is not None
    assert channel.keys is not None
    assert shorthand.keys[0].bits == channel.keys[0].bits
    assert channel.keys_identical
    # A block gathers block_bits sifted bits, overshooting by at most a top-up slice.
    assert block_bits <= channel.sifted_bits <= block_bits * (1 + 1 / 128)
    per_pulse = float(_clicks_per_pulse(system, [eta])[0])
    sigma = np.sqrt(channel.pulses_sent * per_pulse)
    assert abs(channel.detections - channel.pulses_sent * per_pulse) < 5 * sigma
    assert channel.duration_s == pytest.approx(channel.pulses_sent / system.source.repetition_rate_hz)


def test_blocks_gathering_bits_grow_as_the_channel_fades(rng: np.random.Generator) -> None:
    system = get_preset("lim2014")
    channel = RampChannel(3.0, 9.0, 1.0)  # 6 dB lost over a second
    block_bits = 1 << 20
    outcomes = _run(LinkConfig(system, channel, Cascade(), block_bits=block_bits), rng, blocks=3)
    durations = [o.duration_s for o in outcomes]
    assert durations[0] < durations[1] < durations[2]
    assert outcomes[1].start_s == pytest.approx(outcomes[0].duration_s)
    assert outcomes[2].start_s == pytest.approx(durations[0] + durations[1])
    for outcome in outcomes:
        assert block_bits <= outcome.sifted_bits <= block_bits * (1 + 1 / 128)
        assert outcome.keys_identical


def test_slices_keep_draws_bounded_at_one_gigahertz(rng: np.random.Generator) -> None:
    system = get_preset("lim2014")  # 1 GHz; 10 km gives about 24 million clicks per second
    config = LinkConfig(system, FibreChannel(10.0), Cascade(), block_pulses=4 * 10**8, slice_s=1.0)
    (outcome,) = _run(config, rng)
    assert len(outcome.slices) >= 2
    assert max(s.detections for s in outcome.slices) < 1.1 * (1 << 21)  # the session's draw limit
    assert sum(s.pulses for s in outcome.slices) == 4 * 10**8


def test_reconciler_framing(rng: np.random.Generator) -> None:
    system = get_preset("lim2014")
    whole = RecordingReconciler()
    (outcome,) = _run(LinkConfig(system, 0.1, whole, block_bits=1 << 18), rng)
    assert whole.calls == [outcome.sifted_bits]
    framed = RecordingReconciler()
    (outcome,) = _run(LinkConfig(system, 0.1, framed, block_bits=1 << 18, frame_bits=1 << 16), rng)
    # As few frames of at most frame_bits as the block needs, all of one length (to a bit).
    assert len(framed.calls) == -(-outcome.sifted_bits // (1 << 16)) > 1
    assert max(framed.calls) <= 1 << 16
    assert max(framed.calls) - min(framed.calls) <= 1
    assert sum(framed.calls) == outcome.sifted_bits
    assert Cascade().frame_bits == 1 << 17


def test_ldpc_gets_the_whole_block_and_its_own_efficiency(rng: np.random.Generator) -> None:
    system = get_preset("lim2014")
    fibre = FibreChannel(10.0, system.fibre_attenuation_db_per_km)
    link_rng, frame_rng = rng.spawn(2)
    (outcome,) = _run(LinkConfig(system, fibre, ldpc.LdpcReconciler()), link_rng)
    assert outcome.keys_identical, outcome.abort_reason
    # The reconciler called directly on one frame of the block's length, error rate and QBER estimate.
    n = outcome.sifted_bits
    alice = frame_rng.random(n) < 0.5
    bob = alice ^ (frame_rng.random(n) < outcome.qber)
    direct = ldpc.LdpcReconciler().reconcile(alice, bob, outcome.qber_z, rng=frame_rng)
    assert direct.converged
    assert outcome.ec_efficiency == pytest.approx(direct.efficiency(outcome.qber), abs=0.03)


def test_failed_reconciliation_aborts_the_block_before_verification(rng: np.random.Generator) -> None:
    system = get_preset("lim2014")
    fibre = FibreChannel(10.0, system.fibre_attenuation_db_per_km)
    # Leaking 5 % less than the Shannon limit: no frame can be decoded.
    starved = ldpc.LdpcReconciler(ldpc.LdpcParameters(efficiency_target=0.95))
    (outcome,) = _run(LinkConfig(system, fibre, starved, block_bits=1 << 18), rng)
    assert outcome.abort_reason is AbortReason.RECONCILIATION_FAILED
    assert outcome.keys is None


@pytest.mark.parametrize(
    "channel", [0.0, 1.5, float("nan"), "fibre"], ids=["zero", "above-one", "nan", "not-a-channel"]
)
def test_bad_channels_are_refused(channel: object) -> None:
    with pytest.raises(InvalidLinkParameterError, match="Channel or a transmittance"):
        LinkConfig(get_preset("lim2014"), channel, Cascade())  # type: ignore[arg-type]


def test_bad_slices_and_blocks_are_refused() -> None:
    system = get_preset("lim2014")
    with pytest.raises(InvalidLinkParameterError, match="slice_s"):
        LinkConfig(system, 0.1, Cascade(), slice_s=0.0)
    with pytest.raises(InvalidLinkParameterError, match="block_pulses"):
        LinkConfig(system, 0.1, Cascade(), block_pulses=0)
