"""The link engine as a key source: real key, block after block, kept in step with the wall clock.

:class:`EngineKeySource` runs a :class:`~openqci.link.session.LinkSession` over the link's fibre: sampled
detections, sifting, decoy estimation, Cascade (or LDPC), verification, privacy amplification and
authentication. Every block sends the same number of pulses, so it stands for the same stretch of
transmission (``block_s``); the source's clock advances by that much per block, and a block is due once
the wall clock has reached the end of its stretch. An engine faster than the link waits; one slower than
the link falls behind, and once it is more than :data:`MAX_LAG_BLOCKS` blocks behind it gives up the
transmission it could not process rather than pretend it happened: its effective key rate (key per
second of wall time) then sits below its secret key rate (key per second of transmission).

The KMEs take in at most the plan's ``intake_cap_bps`` per link, as they do from the rate model: a block
beyond that budget is cut to whole KME units before it leaves the engine (both ends get the same cut), so
a fast link cannot flood its KMEs' stores and processes.

The channel's events (an eavesdropper on a fraction of the pulses, a cut fibre) are the network's
(:class:`~openqci.network.link_simulator.ChannelEvent`): each applies from the time its block index
stands for in the link's plan. A block the engine cannot prove secure (the QBER above threshold, the
decoy bounds inconsistent, no secret key left) yields nothing.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from openqci.keysource import KeyBlock, SourceState
from openqci.link.channel import InProcessChannel
from openqci.link.eve import InterceptResend
from openqci.link.run import continuous_link_config
from openqci.link.session import LinkSession
from openqci.network.link_simulator import ChannelEvent, LinkPlan, plan_system

__all__ = ["MAX_LAG_BLOCKS", "EngineKeySource", "coalesce"]

_log = logging.getLogger("openqci.network.engine")

MAX_LAG_BLOCKS = 8
"""Blocks an engine may fall behind the wall clock before it skips the transmission it missed."""

_RATE_WINDOW = 16
"""Blocks over which the secret and effective key rates are averaged."""


@dataclass(frozen=True)
class _Done:
    """One processed block, for the rates: key made and handed over, its transmission, when it ended."""

    made_bits: int
    delivered_bits: int
    block_s: float
    finished_s: float


class EngineKeySource:
    """The engine of one fibre link (a :class:`~openqci.keysource.KeySource`).

    Parameters
    ----------
    plan
        The link's plan (preset, length, and the schedule that block indices of channel events refer to).
    rng
        The engine's randomness (detections, bases, hashing seeds).
    start_s
        Wall-clock time at which transmission starts.
    block_bits, reconciliation
        Sifted key-basis bits per block, and the error correction (``cascade`` or ``ldpc``).
    """

    def __init__(
        self,
        plan: LinkPlan,
        *,
        rng: np.random.Generator,
        start_s: float,
        block_bits: int = 1 << 20,
        reconciliation: str = "cascade",
    ) -> None:
        self.plan = plan
        config = continuous_link_config(
            plan_system(plan),
            plan.length_km,
            link_id=plan.link,
            block_bits=block_bits,
            reconciliation=reconciliation,
        )
        self.block_s = (config.block_pulses or 1) / config.system.source.repetition_rate_hz
        self._session = LinkSession(config, channel=InProcessChannel(), rng=rng)
        self._clock_s = start_s
        self._events: Sequence[ChannelEvent] = ()
        self._done: deque[_Done] = deque(maxlen=_RATE_WINDOW)
        self._up, self._reason, self._qber = True, "", 0.5
        self._intake_budget_bits = 0.0
        self.blocks = 0
        self.aborted = 0

    @property
    def link_id(self) -> str:
        """The link whose blocks this source produces."""
        return self.plan.link

    @property
    def next_due_s(self) -> float:
        """Wall-clock time at which the next block falls due."""
        return self._clock_s + self.block_s

    @property
    def started(self) -> bool:
        """Whether a block has been run (before that the source knows nothing of the link)."""
        return bool(self._done)

    def set_events(self, events: Sequence[ChannelEvent]) -> None:
        """The channel's events so far (read from the network's state directory)."""
        self._events = tuple(events)

    def blocks_due(self, now_s: float) -> list[KeyBlock]:
        """Run the blocks whose transmission ends by ``now_s``; return those both ends may keep.

        Both ends' KeyBlocks are equal (the session checks it); the list holds one of each pair.
        """
        if now_s - self._clock_s > (MAX_LAG_BLOCKS + 1) * self.block_s:
            self._clock_s = now_s - self.block_s  # transmission the engine could not keep up with
        made: list[KeyBlock] = []
        while self._clock_s + self.block_s <= now_s:
            event = self._event_at(self._clock_s)
            self._clock_s += self.block_s
            block = self._run_block(event)
            if block is not None:
                made.append(block)
        return made

    def state(self) -> SourceState:
        """Up or down, the last block's QBER, and the rates over the last blocks.

        The secret key rate is key made per second of transmission; the effective rate, key handed to
        the KMEs per second of wall time (below the other when the engine falls behind or the KMEs'
        intake is full).
        """
        made_bits = sum(d.made_bits for d in self._done)
        transmitted_s = sum(d.block_s for d in self._done)
        skr = made_bits / transmitted_s if transmitted_s > 0 else 0.0
        eskr = 0.0
        if len(self._done) > 1:
            wall_s = self._done[-1].finished_s - self._done[0].finished_s
            later_bits = sum(d.delivered_bits for d in self._done) - self._done[0].delivered_bits
            eskr = later_bits / wall_s if wall_s > 0 else 0.0
        return SourceState(
            up=self._up,
            qber=min(max(self._qber, 0.0), 0.5),
            skr_bps=skr,
            eskr_bps=eskr,
            blocks=self.blocks,
            reason=self._reason,
        )

    def _run_block(self, event: ChannelEvent) -> KeyBlock | None:
        """One block's transmission under ``event``: the key the KMEs get from it, if any."""
        if event.cut:
            self._up, self._reason, self._qber = False, "fibre cut", 0.5
            self._done.append(_Done(0, 0, self.block_s, time.time()))
            return None
        self._up, self._reason = True, ""
        self._session.attack = InterceptResend(event.intercept_resend) if event.intercept_resend > 0 else None
        outcome = self._session.run_block()
        if outcome.keys is None:
            self._qber = outcome.qber_z
            self._done.append(_Done(0, 0, self.block_s, time.time()))
            self.aborted += 1
            reason = outcome.abort_reason.value if outcome.abort_reason else "no key"
            _log.warning("block aborted: %s (QBER %.4f)", reason, outcome.qber_z)
            return None
        self._qber = outcome.qber
        block = self._within_intake(outcome.keys[0])
        delivered = 0 if block is None else block.size_bits
        self._done.append(_Done(outcome.final_key_bits, delivered, self.block_s, time.time()))
        if block is None:
            return None
        self.blocks += 1
        _log.debug(
            "a block made %d key bits (%d kept), QBER %.4f", outcome.final_key_bits, delivered, block.qber
        )
        return block

    def _within_intake(self, block: KeyBlock) -> KeyBlock | None:
        """``block`` cut to the whole units the KMEs' intake budget allows (``None`` for no unit)."""
        self._intake_budget_bits += self.plan.intake_cap_bps * self.block_s
        unit = self.plan.unit_bits
        size = min(block.size_bits, int(self._intake_budget_bits)) // unit * unit
        self._intake_budget_bits = min(self._intake_budget_bits - size, self.plan.intake_cap_bps)
        if size <= 0:
            return None
        if size == block.size_bits:
            return block
        return replace(block, bits=block.bits[: size // 8], size_bits=size)

    def _event_at(self, time_s: float) -> ChannelEvent:
        """The channel event in force at wall-clock ``time_s`` (the last one due by then)."""
        current = ChannelEvent(0)
        for event in self._events:
            due = self.plan.epoch_s + event.from_block * self.plan.tick_s
            if due <= time_s and event.from_block >= current.from_block:
                current = event
        return current


def coalesce(blocks: Sequence[KeyBlock]) -> KeyBlock:
    """The keys of consecutive blocks of one link as one block, handed to the KMEs in one transaction.

    Each block is whole KME units (:meth:`EngineKeySource.blocks_due` cuts them so), so the keys join
    byte for byte. The joined key is as secret as its parts together: its security parameter is the sum
    of theirs (composability of the finite-key bound), and its QBER the highest of theirs.
    """
    if not blocks:
        raise ValueError("no block to coalesce")
    if len(blocks) == 1:
        return blocks[0]
    if any(b.size_bits % 8 for b in blocks) or len({b.link_id for b in blocks}) > 1:
        raise ValueError("only whole-byte blocks of one link are coalesced")
    return KeyBlock(
        link_id=blocks[0].link_id,
        block_id=uuid.uuid4(),
        bits=b"".join(b.bits[: b.size_bits // 8] for b in blocks),
        size_bits=sum(b.size_bits for b in blocks),
        qber=max(b.qber for b in blocks),
        epsilon=min(sum(b.epsilon for b in blocks), 0.5),
        created_at=blocks[-1].created_at,
    )
