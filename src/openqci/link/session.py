"""A QKD link as a stream of blocks: sample, sift, estimate, reconcile, verify, amplify, authenticate.

Each block is an independent stretch of transmission sized so that about ``block_bits`` sifted key-basis
bits are expected. It yields either the same :class:`~openqci.link.keyblock.KeyBlock` at both ends or an
:class:`AbortReason` and no key. The checks come in the order a real system runs them: authentication
of the sifting messages, QBER threshold and decoy consistency, error correction, verification, the
finite-key bound with the bits actually leaked, and authentication of the rest of the conversation
before any key is released. Tags consume pre-shared key from each end's :class:`AuthKeyPool`; the
first bits of every final key refill it, and only the rest is delivered.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum

import numpy as np
from numpy.typing import NDArray

from openqci.link.auth import MERSENNE_61, AuthKeyPool, polynomial_digest
from openqci.link.channel import ClassicalChannel, End
from openqci.link.errors import AuthenticationKeyError, InvalidLinkParameterError
from openqci.link.estimation import ParameterEstimate, estimate_parameters, secret_key_length
from openqci.link.keyblock import KeyBlock
from openqci.link.photons import QuantumAttack
from openqci.link.privacy import seed_spectrum, toeplitz_hash, toeplitz_seed
from openqci.link.reconciliation import Reconciler
from openqci.link.sampler import sample_detections
from openqci.link.sifting import SiftedKey, sift
from openqci.link.verification import verification_tag, verification_tag_bits
from openqci.physics.devices import QkdSystem

__all__ = ["AbortReason", "BlockOutcome", "LinkConfig", "LinkSession"]

_MAX_DETECTIONS_PER_DRAW = 1 << 22


class AbortReason(Enum):
    """Why a block yielded no key."""

    QBER_ABOVE_THRESHOLD = "qber-above-threshold"
    DECOY_BOUNDS_INCONSISTENT = "decoy-bounds-inconsistent"
    NO_SECRET_KEY = "no-secret-key"
    VERIFICATION_MISMATCH = "verification-mismatch"
    AUTHENTICATION_FAILURE = "authentication-failure"
    AUTHENTICATION_KEY_EXHAUSTED = "authentication-key-exhausted"


@dataclass(frozen=True)
class LinkConfig:
    """Everything that defines a link run: devices, channel, block size and security parameters.

    ``qber_threshold`` is the test-basis error rate above which a block is dropped before error
    correction; ``auth_key_bits`` is the pre-shared key each end starts with.
    """

    system: QkdSystem
    channel_transmittance: float
    reconciler: Reconciler
    link_id: str = "link"
    block_bits: int = 1 << 20
    frame_bits: int = 1 << 17
    epsilon_sec: float = 1e-10
    epsilon_cor: float = 1e-15
    qber_threshold: float = 0.11
    auth_key_bits: int = 1 << 16
    block_pulses: int | None = None

    def __post_init__(self) -> None:
        if len(self.system.source.intensities) != 3:
            raise InvalidLinkParameterError(
                "the link runs three-intensity decoy BB84 (signal, decoy, weakest)"
            )
        if self.block_bits < 1024 or self.frame_bits < 64:
            raise InvalidLinkParameterError("block_bits must be >= 1024 and frame_bits >= 64")
        if self.channel_transmittance <= 0.0:
            raise InvalidLinkParameterError("the channel transmittance must be > 0")


@dataclass
class BlockOutcome:
    """What one block did, whether or not it produced key; ``keys`` holds both ends' KeyBlocks."""

    pulses_sent: int
    duration_s: float
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
        self.block_pulses = self._pulses_per_block()
        self._block_start = 0

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
        rate = self.config.system.source.repetition_rate_hz
        outcome = BlockOutcome(pulses_sent=self.block_pulses, duration_s=self.block_pulses / rate)
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

    def _pulses_per_block(self) -> int:
        """Pulses expected to give ``block_bits`` key-basis sifted bits on the honest link."""
        if self.config.block_pulses is not None:
            return self.config.block_pulses
        from openqci.physics.detection import expected_detection

        system = self.config.system
        gains = expected_detection(
            system, self.config.channel_transmittance, np.array(system.source.intensities)
        )
        per_pulse = float(np.dot(system.source.probabilities, gains.gain)) * system.basis_prob_x**2
        return max(int(self.config.block_bits / per_pulse), 1)

    def _transmit(self) -> list[_Slice]:
        """Sample the block's detections in slices and sift them (no messages yet; safe in a worker)."""
        system, slices = self.config.system, []
        count = max(1, int(np.ceil(self.block_pulses * 0.05 / _MAX_DETECTIONS_PER_DRAW)))
        for share in np.diff(np.linspace(0, self.block_pulses, count + 1).astype(np.int64)):
            events = sample_detections(
                system,
                self.config.channel_transmittance,
                int(share),
                attack=self.attack,
                rng=self._quantum_rng,
            )
            bob_message = np.packbits(events.bob_basis).tobytes()
            alice_message = np.packbits(events.alice_basis).tobytes() + events.intensity.tobytes()
            sifted = sift(events, len(system.source.intensities))
            slices.append(_Slice(events.detections, bob_message, alice_message, sifted))
        return slices

    def _announce(
        self, outcome: BlockOutcome, views: dict[End, list[bytes]], slices: list[_Slice]
    ) -> SiftedKey:
        """Exchange the sifting messages of every slice and the test-basis counts."""
        for piece in slices:
            outcome.detections += piece.detections
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
        corrected = self._reconcile(outcome, sifted, views)
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
        seed = toeplitz_seed(sifted.size, length, rng=self._rng)
        spectrum = seed_spectrum(seed, sifted.size, length)
        alice_key = toeplitz_hash(sifted.alice_bits, seed, length, spectrum=spectrum)
        received = self._exchange(views, End.ALICE, np.packbits(seed).tobytes())
        bob_seed = np.unpackbits(np.frombuffer(received, np.uint8), count=seed.size).view(np.bool_)
        # The seed's spectrum is a function of the seed alone: Bob reuses Alice's when he received
        # exactly her seed, and computes his own otherwise.
        if not np.array_equal(bob_seed, seed):
            spectrum = seed_spectrum(bob_seed, corrected.size, length)
        # Likewise his hash is Alice's when his corrected key and seed are bit for bit hers.
        same_input = np.array_equal(bob_seed, seed) and np.array_equal(corrected, sifted.alice_bits)
        bob_key = (
            alice_key.copy() if same_input else toeplitz_hash(corrected, bob_seed, length, spectrum=spectrum)
        )
        if self._abort_if_forged(outcome, views, hash_key):
            return
        self._deliver(outcome, alice_key, bob_key)

    def _reconcile(
        self, outcome: BlockOutcome, sifted: SiftedKey, views: dict[End, list[bytes]]
    ) -> NDArray[np.bool_]:
        """Error-correct the block frame by frame; leakage and round trips add up."""
        frame, pieces = self.config.frame_bits, []
        for start in range(0, sifted.size, frame):
            result = self.config.reconciler.reconcile(
                sifted.alice_bits[start : start + frame],
                sifted.bob_bits[start : start + frame],
                sifted.qber_z,
                rng=self._rng,
            )
            self._exchange(views, End.ALICE, result.public_transcript)
            outcome.leaked_ec_bits += result.leaked_bits
            outcome.round_trips += result.round_trips
            pieces.append(result.corrected_bits)
        corrected = np.concatenate(pieces) if pieces else sifted.bob_bits.copy()
        outcome.qber = float(np.count_nonzero(corrected != sifted.bob_bits) / max(sifted.size, 1))
        from openqci.physics.entropy import binary_entropy

        ideal = sifted.size * float(binary_entropy(outcome.qber))
        outcome.ec_efficiency = outcome.leaked_ec_bits / ideal if ideal > 0 else float("nan")
        return corrected

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
class _Slice:
    """One slice of a block's transmission: its click count, both sifting messages, its sifted key."""

    detections: int
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
