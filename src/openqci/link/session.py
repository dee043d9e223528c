"""A QKD link as a stream of blocks: sample, sift, estimate, reconcile, verify, amplify, authenticate.

The quantum channel is a physics :class:`~openqci.physics.channels.Channel` whose transmittance may change
with time (a satellite pass), or a plain transmittance for one that does not (a fibre). The session keeps
a simulated clock and samples transmission in *slices*: each slice lasts at most ``slice_s`` seconds and
uses the channel's transmittance at its midpoint, so a pass whose loss moves by 10 dB over minutes is
sampled second by second. A block is either a fixed number of pulses (``block_pulses``: a whole pass, or a
fixed duration) or as many slices as it takes to gather ``block_bits`` sifted key-basis bits; nothing
assumes the transmittance stays where it was. Each block is an independent stretch of transmission and
yields either the same :class:`~openqci.keysource.KeyBlock` at both ends or an
:class:`AbortReason` and no key. The checks come in the order a real system runs them: authentication
of the sifting messages, QBER threshold and decoy consistency, error correction, verification, the
finite-key bound with the bits actually leaked, and authentication of the rest of the conversation
before any key is released. Tags consume pre-shared key from each end's :class:`AuthKeyPool`; the
first bits of every final key refill it, and only the rest is delivered.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum

import numpy as np
from numpy.typing import ArrayLike, NDArray

from openqci.keysource import KeyBlock
from openqci.link.auth import MERSENNE_61, AuthKeyPool, polynomial_digest
from openqci.link.channel import ClassicalChannel, End
from openqci.link.errors import AuthenticationKeyError, InvalidLinkParameterError
from openqci.link.estimation import ParameterEstimate, estimate_parameters, secret_key_length
from openqci.link.photons import QuantumAttack
from openqci.link.privacy import ToeplitzFamily, default_backend, seed_spectrum, toeplitz_hash, toeplitz_seed
from openqci.link.reconciliation import Reconciler, ReconciliationResult
from openqci.link.sampler import sample_detections
from openqci.link.sifting import SiftedKey, sift
from openqci.link.verification import verification_tag, verification_tag_bits
from openqci.physics.channels import Channel, transmittance_to_db
from openqci.physics.detection import expected_detection
from openqci.physics.devices import QkdSystem

__all__ = ["AbortReason", "BlockOutcome", "LinkConfig", "LinkSession", "TransmissionSlice"]

_MAX_DETECTIONS_PER_DRAW = 1 << 21
_RECONCILE_THREADS = 2  # the machine this is sized for has two cores
_TOP_UP_FRACTION = 1 / 256  # smallest slice a block gathering bits asks for, as a share of block_bits


class AbortReason(Enum):
    """Why a block yielded no key."""

    QBER_ABOVE_THRESHOLD = "qber-above-threshold"
    DECOY_BOUNDS_INCONSISTENT = "decoy-bounds-inconsistent"
    NO_SECRET_KEY = "no-secret-key"
    RECONCILIATION_FAILED = "reconciliation-failed"
    VERIFICATION_MISMATCH = "verification-mismatch"
    AUTHENTICATION_FAILURE = "authentication-failure"
    AUTHENTICATION_KEY_EXHAUSTED = "authentication-key-exhausted"


@dataclass(frozen=True)
class LinkConfig:
    """Everything that defines a link run: devices, channel, block size and security parameters.

    Attributes
    ----------
    system
        Source, detectors, receiver and misalignment.
    quantum_channel
        A :class:`~openqci.physics.channels.Channel` (``time_s`` counts seconds from the start of the
        link), or a transmittance in (0, 1] for a channel that does not change, such as a fibre span.
    reconciler
        The error-correction method.
    block_bits
        Sifted key-basis bits a block gathers, slice after slice, when ``block_pulses`` is not given
        (a block waits for as long as the channel takes: over a satellite pass, prefer ``block_pulses``).
    frame_bits
        Bits per reconciler call. ``None`` takes the reconciler's own ``frame_bits`` attribute (Cascade
        has one), or hands it the whole block when it has none (LDPC frames the block itself).
    qber_threshold
        Test-basis error rate above which a block is dropped before error correction.
    auth_key_bits
        Pre-shared authentication key each end starts with.
    block_pulses
        Pulses per block (a whole pass, or a fixed duration); overrides ``block_bits``.
    slice_s
        Longest stretch of transmission sampled with one transmittance.
    """

    system: QkdSystem
    quantum_channel: Channel | float
    reconciler: Reconciler
    link_id: str = "link"
    block_bits: int = 1 << 20
    frame_bits: int | None = None
    epsilon_sec: float = 1e-10
    epsilon_cor: float = 1e-15
    qber_threshold: float = 0.11
    auth_key_bits: int = 1 << 16
    block_pulses: int | None = None
    slice_s: float = 1.0

    def __post_init__(self) -> None:
        if len(self.system.source.intensities) != 3:
            raise InvalidLinkParameterError(
                "the link runs three-intensity decoy BB84 (signal, decoy, weakest)"
            )
        if self.block_bits < 1024 or (self.frame_bits is not None and self.frame_bits < 64):
            raise InvalidLinkParameterError("block_bits must be >= 1024 and frame_bits >= 64")
        if self.block_pulses is not None and self.block_pulses < 1:
            raise InvalidLinkParameterError("block_pulses must be >= 1 (or None to gather block_bits)")
        if not self.slice_s > 0.0:
            raise InvalidLinkParameterError(f"slice_s must be > 0 seconds, got {self.slice_s!r}")
        if isinstance(self.quantum_channel, Channel):
            return
        if not isinstance(self.quantum_channel, float | int) or not 0.0 < self.quantum_channel <= 1.0:
            raise InvalidLinkParameterError(
                "quantum_channel must be a physics Channel or a transmittance in (0, 1], "
                f"got {self.quantum_channel!r}"
            )


@dataclass(frozen=True)
class TransmissionSlice:
    """One slice of a block's transmission, sampled with the channel's transmittance at its midpoint.

    ``start_s`` counts seconds from the start of the link, as the channel's ``time_s`` does.
    """

    start_s: float
    duration_s: float
    pulses: int
    detections: int
    sifted_bits: int


@dataclass
class BlockOutcome:
    """What one block did, whether or not it produced key; ``keys`` holds both ends' KeyBlocks."""

    pulses_sent: int
    duration_s: float
    start_s: float = 0.0
    detections: int = 0
    sifted_bits: int = 0
    qber: float = 0.0
    qber_z: float = 0.0
    leaked_ec_bits: int = 0
    ec_efficiency: float = float("nan")
    round_trips: int = 0
    auth_key_consumed_bits: int = 0
    final_key_bits: int = 0
    abort_reason: AbortReason | None = None
    keys: tuple[KeyBlock, KeyBlock] | None = None
    estimate: ParameterEstimate | None = field(default=None, repr=False)
    slices: tuple[TransmissionSlice, ...] = field(default=(), repr=False)

    @property
    def keys_identical(self) -> bool | None:
        """Whether both ends hold the same key (``None`` when the block made none)."""
        return None if self.keys is None else self.keys[0].bits == self.keys[1].bits


class LinkSession:
    """One running link: its configuration, classical channel, attack, authentication pools and ``rng``."""

    def __init__(
        self,
        config: LinkConfig,
        *,
        channel: ClassicalChannel,
        rng: np.random.Generator,
        attack: QuantumAttack | None = None,
    ) -> None:
        self.config = config
        self.channel = channel
        self.attack = attack
        shared = rng.integers(0, 2, size=config.auth_key_bits, dtype=np.uint8).view(np.bool_)
        # Transmission and post-processing draw from separate streams, so sampling the next block in
        # parallel with processing this one gives the same run as doing both in turn.
        self._quantum_rng, self._rng = rng.spawn(2)
        self.pools = {End.ALICE: AuthKeyPool(shared), End.BOB: AuthKeyPool(shared)}
        self._quantum_channel: Channel = (
            config.quantum_channel
            if isinstance(config.quantum_channel, Channel)
            else _FixedChannel(float(config.quantum_channel))
        )
        self._pulse_clock = 0  # pulses sent since the start of the link
        self._block_start = 0

    @property
    def elapsed_s(self) -> float:
        """Simulated time transmitted so far (blocks already sampled, including one sampled ahead)."""
        return self._pulse_clock / self.config.system.source.repetition_rate_hz

    def stream(self, blocks: int, *, overlap: bool = True) -> Iterator[BlockOutcome]:
        """Run ``blocks`` blocks; the next block's transmission is simulated while this one is processed.

        The sampler and sifting kernels release the GIL, so on two cores the quantum phase of block
        ``i + 1`` overlaps the classical phase of block ``i``. The outcomes equal those of calling
        :meth:`run_block` ``blocks`` times, which is what ``overlap=False`` does.
        """
        if not overlap:
            for _ in range(blocks):
                yield self.run_block()
            return
        with ThreadPoolExecutor(max_workers=1) as pool:
            upcoming = pool.submit(self._transmit)
            for done in range(blocks):
                transmitted = upcoming.result()
                if done + 1 < blocks:
                    upcoming = pool.submit(self._transmit)
                yield self._process_block(transmitted)

    def run_block(self) -> BlockOutcome:
        """Run one block through the whole post-processing chain."""
        return self._process_block(self._transmit())

    def _process_block(self, transmitted: list[_Slice]) -> BlockOutcome:
        """Everything after transmission: sifting messages, estimation, the classical phase."""
        records = tuple(piece.record for piece in transmitted)
        outcome = BlockOutcome(
            pulses_sent=sum(r.pulses for r in records),
            duration_s=sum(r.duration_s for r in records),
            start_s=records[0].start_s,
            slices=records,
        )
        views: dict[End, list[bytes]] = {End.ALICE: [], End.BOB: []}
        self._block_start = self.pools[End.ALICE].consumed_bits
        try:
            hash_key = {end: pool.take_word() for end, pool in self.pools.items()}
            sifted = self._announce(outcome, views, transmitted)
            if not self._abort_if_forged(outcome, views, hash_key) and not self._abort_if_insecure(
                outcome, sifted
            ):
                self._classical_phase(outcome, sifted, views, hash_key)
        except AuthenticationKeyError:
            outcome.abort_reason = AbortReason.AUTHENTICATION_KEY_EXHAUSTED
        outcome.auth_key_consumed_bits = self._consumed_in_block()
        return outcome

    def _consumed_in_block(self) -> int:
        """Authentication key used so far by the block under way (the same at both ends)."""
        return self.pools[End.ALICE].consumed_bits - self._block_start

    def _transmit(self) -> list[_Slice]:
        """Sample and sift the block's slices (no messages yet; safe in a worker, one block at a time)."""
        slices: list[_Slice] = []
        sent = kept = 0
        while not self._block_complete(sent, kept):
            pulses = self._slice_pulses(sent, kept)
            slices.append(self._sample_slice(pulses))
            sent, kept = sent + pulses, kept + slices[-1].sifted.size
        return slices

    def _block_complete(self, sent: int, kept: int) -> bool:
        """A block ends after ``block_pulses`` pulses, or once it holds ``block_bits`` sifted bits."""
        if self.config.block_pulses is not None:
            return sent >= self.config.block_pulses
        return kept >= self.config.block_bits

    def _slice_pulses(self, sent: int, kept: int) -> int:
        """Pulses of the next slice: at most ``slice_s``, a bounded number of detections, the block's rest.

        The expected click rate at the slice's start only sizes the slice (the simulation's business,
        not the ends'); a block gathering bits asks for what it still lacks, or a small top-up.
        """
        config, system = self.config, self.config.system
        rate = system.source.repetition_rate_hz
        eta = float(self._quantum_channel.transmittance(self._pulse_clock / rate))
        gains = expected_detection(system, eta, np.array(system.source.intensities)).gain
        clicks = float(np.dot(system.source.probabilities, gains))
        limit = max(1, round(config.slice_s * rate))
        if clicks > 0:
            limit = min(limit, max(1, int(_MAX_DETECTIONS_PER_DRAW / clicks)))
        if config.block_pulses is not None:
            return min(limit, config.block_pulses - sent)
        wanted = max(config.block_bits - kept, config.block_bits * _TOP_UP_FRACTION)
        sifted_per_pulse = clicks * system.basis_prob_x**2
        if sifted_per_pulse <= 0:
            return limit
        return min(limit, max(1, int(np.ceil(wanted / sifted_per_pulse))))

    def _sample_slice(self, pulses: int) -> _Slice:
        """Detections of ``pulses`` pulses at the channel's transmittance in the middle of the slice."""
        system = self.config.system
        rate = system.source.repetition_rate_hz
        start_s, duration_s = self._pulse_clock / rate, pulses / rate
        eta = float(self._quantum_channel.transmittance(start_s + duration_s / 2))
        events = sample_detections(system, eta, pulses, attack=self.attack, rng=self._quantum_rng)
        self._pulse_clock += pulses
        bob_message = np.packbits(events.bob_basis).tobytes()
        alice_message = np.packbits(events.alice_basis).tobytes() + events.intensity.tobytes()
        sifted = sift(events, len(system.source.intensities))
        record = TransmissionSlice(start_s, duration_s, pulses, events.detections, sifted.size)
        return _Slice(record, bob_message, alice_message, sifted)

    def _announce(
        self, outcome: BlockOutcome, views: dict[End, list[bytes]], slices: list[_Slice]
    ) -> SiftedKey:
        """Exchange the sifting messages of every slice and the test-basis counts."""
        for piece in slices:
            outcome.detections += piece.record.detections
            self._exchange(views, End.BOB, piece.bob_message)
            self._exchange(views, End.ALICE, piece.alice_message)
        sifted = _concatenate([piece.sifted for piece in slices])
        counts = np.concatenate([sifted.n_z, sifted.m_z]).astype(np.int64).tobytes()
        self._exchange(views, End.ALICE, counts)
        outcome.sifted_bits, outcome.qber_z = sifted.size, sifted.qber_z
        return sifted

    def _abort_if_insecure(self, outcome: BlockOutcome, sifted: SiftedKey) -> bool:
        """QBER threshold and decoy consistency, before any error correction."""
        config = self.config
        estimate = estimate_parameters(
            sifted, config.system.source, epsilon_sec=config.epsilon_sec, epsilon_cor=config.epsilon_cor
        )
        outcome.estimate = estimate
        if estimate.qber_z > config.qber_threshold:
            outcome.abort_reason = AbortReason.QBER_ABOVE_THRESHOLD
        elif not estimate.decoys_consistent:
            outcome.abort_reason = AbortReason.DECOY_BOUNDS_INCONSISTENT
        return outcome.abort_reason is not None

    def _classical_phase(
        self,
        outcome: BlockOutcome,
        sifted: SiftedKey,
        views: dict[End, list[bytes]],
        hash_key: dict[End, int],
    ) -> None:
        """Reconcile, verify, bound, amplify and authenticate; deliver key only if all pass."""
        corrected, converged = self._reconcile(outcome, sifted, views)
        if not converged:  # Bob knows a frame is still wrong: no verification hash to spend on it
            self._abort_if_forged(outcome, views, hash_key)
            outcome.abort_reason = outcome.abort_reason or AbortReason.RECONCILIATION_FAILED
            return
        if not self._verify(sifted.alice_bits, corrected, views):
            self._abort_if_forged(outcome, views, hash_key)
            outcome.abort_reason = outcome.abort_reason or AbortReason.VERIFICATION_MISMATCH
            return
        assert outcome.estimate is not None
        length = secret_key_length(outcome.estimate, outcome.leaked_ec_bits)
        tag_cost = 2 * 61  # the pads of the block's last authentication round, charged up front
        if length - tag_cost - self._consumed_in_block() <= 0:
            self._abort_if_forged(outcome, views, hash_key)
            outcome.abort_reason = outcome.abort_reason or AbortReason.NO_SECRET_KEY
            return
        family = ToeplitzFamily.MODIFIED
        seed = toeplitz_seed(sifted.size, length, rng=self._rng, family=family)
        # The FFT backend transforms the seed once for both ends: its spectrum is a function of the
        # seed alone, so Bob reuses Alice's when he received exactly her seed.
        fft = default_backend() == "fft"
        spectrum = seed_spectrum(seed, sifted.size, length, family=family) if fft else None
        alice_key = toeplitz_hash(sifted.alice_bits, seed, length, spectrum=spectrum, family=family)
        received = self._exchange(views, End.ALICE, np.packbits(seed).tobytes())
        bob_seed = np.unpackbits(np.frombuffer(received, np.uint8), count=seed.size).view(np.bool_)
        if fft and not np.array_equal(bob_seed, seed):
            spectrum = seed_spectrum(bob_seed, corrected.size, length, family=family)
        # Likewise his hash is Alice's when his corrected key and seed are bit for bit hers.
        same_input = np.array_equal(bob_seed, seed) and np.array_equal(corrected, sifted.alice_bits)
        bob_key = (
            alice_key.copy()
            if same_input
            else toeplitz_hash(corrected, bob_seed, length, spectrum=spectrum, family=family)
        )
        if self._abort_if_forged(outcome, views, hash_key):
            return
        self._deliver(outcome, alice_key, bob_key)

    def _reconcile(
        self, outcome: BlockOutcome, sifted: SiftedKey, views: dict[End, list[bytes]]
    ) -> tuple[NDArray[np.bool_], bool]:
        """Error-correct the block frame by frame; leakage and round trips add up.

        Returns Bob's corrected block and whether every frame reported success (an LDPC frame that
        did not reach Alice's syndrome reports failure; Cascade always finishes).

        The block is cut into as few frames of at most the frame length as it takes, all of one length
        (to a bit), so no short remainder frame pays a full frame's fixed leakage for a few bits.
        """
        frames = -(-sifted.size // self._frame_bits(sifted.size))
        bounds = [sifted.size * i // frames for i in range(frames + 1)]
        pieces = []
        converged = True
        for result in self._reconcile_frames(sifted, list(itertools.pairwise(bounds))):
            self._exchange(views, End.ALICE, result.public_transcript)
            outcome.leaked_ec_bits += result.leaked_bits
            outcome.round_trips += result.round_trips
            pieces.append(result.corrected_bits)
            converged = converged and result.converged
        corrected = np.concatenate(pieces) if pieces else sifted.bob_bits.copy()
        outcome.qber = float(np.count_nonzero(corrected != sifted.bob_bits) / max(sifted.size, 1))
        from openqci.physics.entropy import binary_entropy

        ideal = sifted.size * float(binary_entropy(outcome.qber))
        outcome.ec_efficiency = outcome.leaked_ec_bits / ideal if ideal > 0 else float("nan")
        return corrected, converged

    def _reconcile_frames(
        self, sifted: SiftedKey, spans: list[tuple[int, int]]
    ) -> list[ReconciliationResult]:
        """Reconcile the frames two at a time: they are independent, and the kernels release the GIL.

        Each frame draws its public randomness from a child of the session's generator, so the
        results do not depend on which thread ran which frame.
        """
        streams = self._rng.spawn(len(spans))

        def one(index: int) -> ReconciliationResult:
            start, stop = spans[index]
            return self.config.reconciler.reconcile(
                sifted.alice_bits[start:stop], sifted.bob_bits[start:stop], sifted.qber_z, rng=streams[index]
            )

        if len(spans) == 1:
            return [one(0)]
        with ThreadPoolExecutor(max_workers=_RECONCILE_THREADS) as pool:
            return list(pool.map(one, range(len(spans))))

    def _frame_bits(self, block_size: int) -> int:
        """Bits per reconciler call: the config's, the reconciler's own, or the whole block."""
        if self.config.frame_bits is not None:
            return self.config.frame_bits
        preferred = getattr(self.config.reconciler, "frame_bits", None)
        return int(preferred) if isinstance(preferred, int) and preferred > 0 else max(block_size, 1)

    def _verify(
        self, alice_bits: NDArray[np.bool_], corrected: NDArray[np.bool_], views: dict[End, list[bytes]]
    ) -> bool:
        """Alice sends a seed and her hash; Bob compares it with his."""
        tag_bits = verification_tag_bits(self.config.epsilon_cor)
        seed = self._rng.integers(
            0, 2**64 - 1, size=alice_bits.size // 64 + 2, dtype=np.uint64, endpoint=True
        )
        alice_tag = verification_tag(alice_bits, seed, tag_bits)
        received = self._exchange(views, End.ALICE, seed.tobytes() + alice_tag.to_bytes(8, "little"))
        bob_seed = np.frombuffer(received[:-8], dtype=np.uint64)
        return verification_tag(corrected, bob_seed, tag_bits) == int.from_bytes(received[-8:], "little")

    def _exchange(self, views: dict[End, list[bytes]], sender: End, message: bytes) -> bytes:
        """Send ``message``; each end records its own view of it."""
        received = self.channel.send(message, sender)
        receiver = End.BOB if sender is End.ALICE else End.ALICE
        views[sender].append(message)
        views[receiver].append(received)
        return received

    def _abort_if_forged(
        self, outcome: BlockOutcome, views: dict[End, list[bytes]], hash_key: dict[End, int]
    ) -> bool:
        """Each end tags its view of the conversation so far; the other end checks the tag."""
        transcripts = {end: b"".join(parts) for end, parts in views.items()}
        digests = {end: polynomial_digest(transcripts[end], hash_key[end]) for end in (End.ALICE,)}
        # h_k is a function of (transcript, key) alone: Bob's digest is Alice's when both are equal.
        same = transcripts[End.BOB] == transcripts[End.ALICE] and hash_key[End.BOB] == hash_key[End.ALICE]
        digests[End.BOB] = (
            digests[End.ALICE] if same else polynomial_digest(transcripts[End.BOB], hash_key[End.BOB])
        )
        tags = {}
        for end in (End.ALICE, End.BOB):
            pad = self.pools[end].take_word(), self.pools[end].take_word()
            tags[end] = [(digests[end] + p) % MERSENNE_61 for p in pad]
        # Alice's first tag checked by Bob, Bob's second tag checked by Alice.
        forged = tags[End.ALICE][0] != tags[End.BOB][0] or tags[End.BOB][1] != tags[End.ALICE][1]
        if forged:
            outcome.abort_reason = AbortReason.AUTHENTICATION_FAILURE
        return forged

    def _deliver(
        self, outcome: BlockOutcome, alice_key: NDArray[np.bool_], bob_key: NDArray[np.bool_]
    ) -> None:
        """Refill both pools with what authentication used, and hand the rest to both ends."""
        used = self._consumed_in_block()
        self.pools[End.ALICE].replenish(alice_key[:used])
        self.pools[End.BOB].replenish(bob_key[:used])
        block_id = uuid.uuid4()
        estimate_qber = outcome.qber
        epsilon = self.config.epsilon_sec + self.config.epsilon_cor
        keys = tuple(
            KeyBlock(
                self.config.link_id,
                block_id,
                np.packbits(k[used:]).tobytes(),
                k.size - used,
                estimate_qber,
                epsilon,
            )
            for k in (alice_key, bob_key)
        )
        outcome.keys = (keys[0], keys[1])
        outcome.final_key_bits = alice_key.size - used


@dataclass(frozen=True)
class _FixedChannel:
    """A channel whose transmittance never changes: what a plain number in :class:`LinkConfig` means."""

    fixed_transmittance: float

    def transmittance(self, time_s: ArrayLike) -> NDArray[np.float64]:
        """The fixed transmittance, broadcast to the shape of ``time_s``."""
        return np.full(np.shape(time_s), self.fixed_transmittance, dtype=np.float64)

    def loss_db(self, time_s: ArrayLike) -> NDArray[np.float64]:
        """The same, in dB."""
        return transmittance_to_db(self.transmittance(time_s))


@dataclass(frozen=True)
class _Slice:
    """One slice of a block's transmission: what both ends can count, both sifting messages, its key."""

    record: TransmissionSlice
    bob_message: bytes
    alice_message: bytes
    sifted: SiftedKey


def _concatenate(parts: list[SiftedKey]) -> SiftedKey:
    """One sifted key from the slices of a block."""
    return SiftedKey(
        alice_bits=np.concatenate([p.alice_bits for p in parts]),
        bob_bits=np.concatenate([p.bob_bits for p in parts]),
        n_x=np.sum([p.n_x for p in parts], axis=0),
        n_z=np.sum([p.n_z for p in parts], axis=0),
        m_z=np.sum([p.m_z for p in parts], axis=0),
        discarded=sum(p.discarded for p in parts),
    )
