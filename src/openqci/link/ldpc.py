"""Rate-adaptive LDPC reconciliation: one syndrome message from Alice, belief propagation at Bob.

The protocol follows Elkouss, Martinez-Mateo, Lancho, Martin, "Rate compatible protocol for information
reconciliation: an application to QKD", arXiv 1006.2660 (2010), with shortening as the adaptation:

1. From the QBER estimate ``q`` and the efficiency aimed at, ``f``, the target rate is
   ``R = 1 - f h(q)``. The mother code of lowest rate at or above ``R`` is chosen (see
   :mod:`openqci.link.ldpc_codes`), and each frame of ``n`` bits carries only as many key bits ``k`` as
   make ``m / (k h(q)) = f``; the other ``n - k`` positions are *shortened*: set to 0 at both ends.
2. Alice draws a public seed; both ends derive from it which positions are shortened. Alice sends the
   seed and the ``m``-bit syndrome of every frame in one message.
3. Bob decodes each frame with layered sum-product or min-sum (:mod:`openqci.link.ldpc_decoder`). A frame
   that does not reach Alice's syndrome is left as it was and the result reports ``converged=False``;
   verification then discards the block.

Shortened values are fixed, not key, so they disclose nothing: the leakage is exactly the syndrome bits,
``frames * m``. Puncturing (the paper's other knob, raising the rate) is not used: its efficiency gain rests
on punctured values that stay secret, and counting every syndrome bit keeps the accounting conservative.
The protocol is one-way: one message and no round trip per call, whatever the number of frames.
"""

from __future__ import annotations

import enum
import math
import struct
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from openqci.link.errors import LinkError
from openqci.link.ldpc_codes import (
    LONG_CODES,
    MOTHER_CODES,
    PEG_LONG_CODES,
    PEG_SHORT_CODES,
    SHORT_CODES,
    CodeSpec,
    build_code,
)
from openqci.link.ldpc_decoder import MIN_SUM, SUM_PRODUCT, decode_frames, encode_frames
from openqci.link.reconciliation import ReconciliationResult
from openqci.physics.entropy import binary_entropy

__all__ = [
    "CheckRule",
    "CodeFamily",
    "LdpcError",
    "LdpcFrameReport",
    "LdpcMessage",
    "LdpcParameters",
    "LdpcReconciler",
    "plan_frames",
    "shortening_order",
]

_TRANSCRIPT_MAGIC = b"OQLDPC1"
_HEADER = "<7sBQII"


class LdpcError(LinkError):
    """LDPC reconciliation was called with input it cannot work on (never raised for a noisy frame)."""


class CodeFamily(enum.Enum):
    """Family of mother codes (:mod:`openqci.link.ldpc_codes`)."""

    STAIRCASE = "staircase"
    """Random staircase (IRA-shaped) codes with degrees 2, 3 and 8; built in 0.1 s; f about 1.30 at 2 %."""
    PEG = "peg"
    """BSC-optimised degrees up to 30, built by progressive edge growth; f about 1.14 at 2 % (the default)."""


class CheckRule(enum.Enum):
    """Check-node rule of Bob's decoder (:mod:`openqci.link.ldpc_decoder`)."""

    MIN_SUM = MIN_SUM
    """Normalised min-sum: cheapest per edge; fails on the PEG family, whose checks join about 38 bits."""
    SUM_PRODUCT = SUM_PRODUCT
    """Sum-product (belief propagation): what the PEG family is designed for; about 1.3x min-sum per edge."""


_FAMILIES: dict[CodeFamily, tuple[tuple[CodeSpec, ...], tuple[CodeSpec, ...], CheckRule]] = {
    CodeFamily.STAIRCASE: (LONG_CODES, SHORT_CODES, CheckRule.MIN_SUM),
    CodeFamily.PEG: (PEG_LONG_CODES, PEG_SHORT_CODES, CheckRule.SUM_PRODUCT),
}
"""Long codes, short codes and default check rule of each family."""


@dataclass(frozen=True)
class LdpcParameters:
    """Settings of LDPC reconciliation.

    Attributes
    ----------
    code_family
        Mother codes to use; both ends must agree, and the message names the code it used.
    check_rule
        Bob's check-node rule; ``None`` takes the family's own (min-sum for staircase codes, sum-product
        for PEG codes).
    efficiency_target
        ``f`` aimed at when choosing the rate; higher leaks more and fails less often. ``None`` takes
        each mother code's ``design_efficiency``.
    normalisation
        Factor on min-sum check messages (Chen and Fossorier 2002); 0.8 suits the staircase family. Not
        used by sum-product.
    max_iterations
        Layered iterations before a frame is declared not converged.
    """

    code_family: CodeFamily = CodeFamily.PEG
    check_rule: CheckRule | None = None
    efficiency_target: float | None = None
    normalisation: float = 0.8
    max_iterations: int = 60


@dataclass(frozen=True)
class LdpcFrameReport:
    """Per-frame detail of one call, for statistics (frame error rate, iterations).

    Attributes
    ----------
    code_rates
        Rate of the mother code each frame used.
    frame_key_bits
        Key bits carried by each frame (the rest of the ``n`` positions were shortened).
    iterations
        Iterations each frame took: 0 when Bob's frame already matched, ``-1`` when decoding failed.
    """

    code_rates: NDArray[np.float64]
    frame_key_bits: NDArray[np.int64]
    iterations: NDArray[np.int32]

    @property
    def frame_errors(self) -> int:
        """Number of frames the decoder could not bring to Alice's syndrome."""
        return int(np.count_nonzero(self.iterations < 0))


@dataclass(frozen=True)
class _FramePlan:
    """A run of frames under one mother code, with the key bits of each."""

    code_index: int
    frame_key_bits: NDArray[np.int64]


@dataclass(frozen=True)
class LdpcMessage:
    """Alice's syndromes for a run of frames under one mother code, with the public seed of the shortening.

    Alice's one message per call is the concatenation of one or two of these (long frames, then short
    frames for a remainder that would waste most of a long frame); :meth:`parse_all` splits it.

    Attributes
    ----------
    code_index
        Index of the mother code in :data:`~openqci.link.ldpc_codes.MOTHER_CODES`.
    public_seed
        Seed of :func:`shortening_order`.
    frame_key_bits
        Key bits carried by each frame.
    syndromes
        Syndrome of each frame, shape ``(frames, m)``.
    """

    code_index: int
    public_seed: int
    frame_key_bits: NDArray[np.int64]
    syndromes: NDArray[np.bool_]

    def to_bytes(self) -> bytes:
        """Serialise as sent: header, key bits per frame (uint32), then the packed syndromes."""
        n_frames, n_checks = self.syndromes.shape
        header = struct.pack(
            _HEADER, _TRANSCRIPT_MAGIC, self.code_index, self.public_seed, n_frames, n_checks
        )
        sizes = self.frame_key_bits.astype("<u4").tobytes()
        return header + sizes + np.packbits(self.syndromes, axis=None).tobytes()

    @classmethod
    def parse_all(cls, data: bytes) -> tuple[LdpcMessage, ...]:
        """Split a transcript into the messages :meth:`to_bytes` wrote one after another (Bob's side)."""
        messages, offset = [], 0
        while offset < len(data):
            message, offset = cls._read(data, offset)
            messages.append(message)
        return tuple(messages)

    @classmethod
    def _read(cls, data: bytes, offset: int) -> tuple[LdpcMessage, int]:
        """One message starting at ``offset``, and the offset just after it."""
        if len(data) - offset < struct.calcsize(_HEADER) or data[offset : offset + 7] != _TRANSCRIPT_MAGIC:
            raise LdpcError("not an LDPC reconciliation message: its header does not start with OQLDPC1")
        _, code_index, seed, n_frames, n_checks = struct.unpack_from(_HEADER, data, offset)
        offset += struct.calcsize(_HEADER)
        sizes = np.frombuffer(data, dtype="<u4", count=n_frames, offset=offset).astype(np.int64)
        offset += 4 * n_frames
        n_bytes = -(-n_frames * n_checks // 8)
        packed = np.frombuffer(data, dtype=np.uint8, count=n_bytes, offset=offset)
        bits = np.unpackbits(packed, count=n_frames * n_checks).astype(np.bool_)
        return cls(code_index, seed, sizes, bits.reshape(n_frames, n_checks)), offset + n_bytes


def plan_frames(
    n_key_bits: int,
    qber: float,
    efficiency_target: float | None = None,
    code_family: CodeFamily = CodeFamily.PEG,
) -> tuple[tuple[CodeSpec, NDArray[np.int64]], ...]:
    """Choose mother codes and split ``n_key_bits`` into frames for a QBER and target efficiency.

    Long frames (131,072 bits) carry the key; what is left over goes into short frames (32,768 bits) when
    that leaks less than spreading it over one more long frame.

    Parameters
    ----------
    n_key_bits
        Length of the key to reconcile.
    qber
        Estimated quantum bit error rate, in (0, 0.5).
    efficiency_target
        ``f`` aimed at, or ``None`` for each mother code's design efficiency; the measured ``f`` is at least
        this, more where the key does not fill whole frames or where even the highest-rate mother code leaks
        more than asked.
    code_family
        Family of the mother codes.

    Returns
    -------
    tuple of (spec, frame_key_bits)
        Per run of frames, the mother code's recipe and the number of key bits in each frame.

    Examples
    --------
    >>> [(spec.n_bits, spec.rate, frames.size) for spec, frames in plan_frames(300_000, 0.02)]
    [(131072, 0.84, 2), (32768, 0.83, 2)]
    """
    plans = _plan(n_key_bits, qber, efficiency_target, code_family)
    return tuple((MOTHER_CODES[plan.code_index], plan.frame_key_bits) for plan in plans)


class LdpcReconciler:
    """One-way rate-adaptive LDPC reconciliation; implements :class:`~openqci.link.reconciliation.Reconciler`.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> alice = rng.random(40_000) < 0.5
    >>> bob = alice ^ (rng.random(alice.size) < 0.02)
    >>> result = LdpcReconciler().reconcile(alice, bob, 0.02, rng=rng)
    >>> result.converged, bool(np.array_equal(result.corrected_bits, alice)), result.messages
    (True, True, 1)
    """

    name = "ldpc"

    def __init__(self, parameters: LdpcParameters | None = None) -> None:
        self.parameters = parameters if parameters is not None else LdpcParameters()

    def reconcile(
        self,
        alice_bits: NDArray[np.bool_],
        bob_bits: NDArray[np.bool_],
        qber_estimate: float,
        *,
        rng: np.random.Generator,
    ) -> ReconciliationResult:
        """Correct ``bob_bits`` towards ``alice_bits`` from one syndrome message.

        Parameters
        ----------
        alice_bits, bob_bits
            Sifted keys of both ends, unpacked booleans of equal length.
        qber_estimate
            Estimated QBER in (0, 0.5); it sets the rate and the decoder's prior.
        rng
            Draws the public seed of the shortening pattern.

        Returns
        -------
        ReconciliationResult
            ``converged`` is True only if every frame reached Alice's syndrome.

        Raises
        ------
        LdpcError
            On arrays that are not 1-D booleans of equal length, or a QBER outside (0, 0.5).
        """
        return self.reconcile_frames(alice_bits, bob_bits, qber_estimate, rng=rng)[0]

    def reconcile_frames(
        self,
        alice_bits: NDArray[np.bool_],
        bob_bits: NDArray[np.bool_],
        qber_estimate: float,
        *,
        rng: np.random.Generator,
    ) -> tuple[ReconciliationResult, LdpcFrameReport]:
        """As :meth:`reconcile`, also returning the per-frame report."""
        alice, bob = _checked_bits(alice_bits, bob_bits, qber_estimate)
        public_seed = int(rng.integers(0, 2**63))
        messages, corrected, iterations, start = [], [], [], 0
        p = self.parameters
        for plan in _plan(alice.size, qber_estimate, p.efficiency_target, p.code_family):
            stop = start + int(plan.frame_key_bits.sum())
            messages.append(_encode(alice[start:stop], plan, public_seed=public_seed))
            piece, used = self._decode(messages[-1], bob[start:stop], qber_estimate)
            corrected.append(piece)
            iterations.append(used)
            start = stop
        report = _report(messages, iterations)
        result = ReconciliationResult(
            corrected_bits=np.concatenate(corrected) if corrected else bob.copy(),
            leaked_bits=sum(int(message.syndromes.size) for message in messages),
            messages=1 if messages else 0,
            round_trips=0,
            converged=report.frame_errors == 0,
            public_transcript=b"".join(message.to_bytes() for message in messages),
        )
        return result, report

    def _decode(
        self, message: LdpcMessage, bob: NDArray[np.bool_], qber: float
    ) -> tuple[NDArray[np.bool_], NDArray[np.int32]]:
        """Bob's side: everything he uses is his own bits and Alice's message."""
        code = build_code(MOTHER_CODES[message.code_index])
        positions = shortening_order(code.n_bits, message.public_seed)
        p = self.parameters
        rule = p.check_rule if p.check_rule is not None else _FAMILIES[p.code_family][2]
        return decode_frames(
            code.row_ptr,
            code.col_idx,
            bob,
            message.syndromes,
            positions,
            message.frame_key_bits,
            math.log((1.0 - qber) / qber),
            p.normalisation,
            p.max_iterations,
            rule.value,
        )


def _encode(alice: NDArray[np.bool_], plan: _FramePlan, *, public_seed: int) -> LdpcMessage:
    """Alice's side: the syndrome of every frame under the shortening drawn from ``public_seed``."""
    code = build_code(MOTHER_CODES[plan.code_index])
    positions = shortening_order(code.n_bits, public_seed)
    syndromes = encode_frames(code.row_ptr, code.col_idx, alice, positions, plan.frame_key_bits)
    return LdpcMessage(plan.code_index, public_seed, plan.frame_key_bits, syndromes)


def shortening_order(n_bits: int, public_seed: int) -> NDArray[np.int32]:
    """Frame positions in the order both ends fill them: shortened positions first, then key bits.

    Derived from the public seed alone, so Bob rebuilds it from Alice's message.
    """
    return np.random.default_rng(public_seed).permutation(n_bits).astype(np.int32)


def _checked_bits(
    alice_bits: NDArray[np.bool_], bob_bits: NDArray[np.bool_], qber: float
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Refuse input the protocol cannot use, with a message saying what is expected."""
    alice = np.asarray(alice_bits)
    bob = np.asarray(bob_bits)
    if alice.dtype != np.bool_ or bob.dtype != np.bool_ or alice.ndim != 1 or bob.ndim != 1:
        raise LdpcError(
            "LDPC reconciliation takes 1-D unpacked boolean arrays; unpack bytes with np.unpackbits"
        )
    if alice.size != bob.size:
        raise LdpcError(f"Alice has {alice.size} bits and Bob {bob.size}; sift both ends to the same length")
    if not 0.0 < qber < 0.5:
        raise LdpcError(
            f"QBER estimate {qber} is outside (0, 0.5); estimate it from a disclosed sample first"
        )
    return np.ascontiguousarray(alice), np.ascontiguousarray(bob)


def _plan(
    n_key_bits: int, qber: float, efficiency_target: float | None, family: CodeFamily
) -> tuple[_FramePlan, ...]:
    """Long frames for the bulk of the key, short ones for a remainder if that leaks less."""
    entropy = float(binary_entropy(qber))
    long_codes, short_codes, _ = _FAMILIES[family]
    long_index, long_bits = _pick_code(long_codes, entropy, efficiency_target)
    short_index, short_bits = _pick_code(short_codes, entropy, efficiency_target)
    long_plan = _FramePlan(MOTHER_CODES.index(long_codes[long_index]), _even(n_key_bits, long_bits))
    n_long, rest = divmod(n_key_bits, long_bits)
    short_frames = _even(rest, short_bits)
    split_leak = n_long * _checks(long_codes[long_index]) + short_frames.size * _checks(
        short_codes[short_index]
    )
    if n_long > 0 and split_leak >= long_plan.frame_key_bits.size * _checks(long_codes[long_index]):
        return (long_plan,)
    plans = (
        _FramePlan(long_plan.code_index, _even(n_long * long_bits, long_bits)),
        _FramePlan(MOTHER_CODES.index(short_codes[short_index]), short_frames),
    )
    return tuple(plan for plan in plans if plan.frame_key_bits.size)


def _even(n_key_bits: int, per_frame: int) -> NDArray[np.int64]:
    """Key bits per frame: ``n_key_bits`` spread evenly over frames of at most ``per_frame`` bits."""
    n_frames = -(-n_key_bits // per_frame)
    base, extra = divmod(n_key_bits, max(n_frames, 1))
    frame_key_bits = np.full(n_frames, base, dtype=np.int64)
    frame_key_bits[:extra] += 1
    return frame_key_bits


def _checks(spec: CodeSpec) -> int:
    """Number of checks ``m`` of a mother code, i.e. the syndrome bits each of its frames discloses."""
    return round(spec.n_bits * (1.0 - spec.rate))


def _report(messages: list[LdpcMessage], iterations: list[NDArray[np.int32]]) -> LdpcFrameReport:
    """Per-frame statistics of one call, frames in key order."""
    rates = [np.full(m.frame_key_bits.size, MOTHER_CODES[m.code_index].rate) for m in messages]
    return LdpcFrameReport(
        code_rates=np.concatenate(rates) if rates else np.zeros(0),
        frame_key_bits=np.concatenate([m.frame_key_bits for m in messages])
        if messages
        else np.zeros(0, np.int64),
        iterations=np.concatenate(iterations) if iterations else np.zeros(0, np.int32),
    )


def _pick_code(
    family: tuple[CodeSpec, ...], entropy: float, efficiency_target: float | None
) -> tuple[int, int]:
    """Lowest-rate code of ``family`` reaching ``1 - f h(q)``, and the key bits one frame then carries."""
    targets = [spec.design_efficiency if efficiency_target is None else efficiency_target for spec in family]
    fitting = [i for i, spec in enumerate(family) if spec.rate >= 1.0 - targets[i] * entropy]
    index = fitting[0] if fitting else len(family) - 1
    return index, min(family[index].n_bits, int(_checks(family[index]) / (targets[index] * entropy)))
