"""The rate model as a key source: each end of a link makes the link's blocks from its seed.

Both ends of a model-run link live in different processes and run one :class:`ModelKeySource` each; since
every block is a pure function of the plan, the seed and the block index
(:mod:`openqci.network.link_simulator`), they hand their KMEs identical blocks without talking.

An end whose KME's pool is full (``max_key_count``) hands the refused block back
(:meth:`ModelKeySource.hold`): the source rewinds to its index and cuts it again, the same block, once
the KME has room. No index is
ever skipped, so both ends hold the same blocks; one that was full takes them later. (A channel event
applies from a block index the network has not reached yet, so a block cut again is cut alike.)
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence

from openqci.keysource import KeyBlock, SourceState
from openqci.network.link_simulator import (
    ChannelConditions,
    ChannelEvent,
    LinkKeyStream,
    LinkPlan,
    conditions_at,
    make_block,
)

__all__ = ["CATCH_UP_BLOCKS", "ModelKeySource"]

CATCH_UP_BLOCKS = 64
"""Blocks a call returns at most, so a late start catches up without stalling the KME's process."""


class ModelKeySource:
    """One end's view of a model-run link (a :class:`~openqci.keysource.KeySource`).

    ``events`` reads the link's channel events (eavesdropper, cut) as they stand now.
    """

    def __init__(
        self, plan: LinkPlan, stream: LinkKeyStream, events: Callable[[], Sequence[ChannelEvent]]
    ) -> None:
        self.plan = plan
        self._stream = stream
        self._events = events
        self._next_index = plan.first_block
        self._issued: dict[uuid.UUID, int] = {}
        self._holding = False
        self._blocks = 0
        self._conditions = ChannelConditions(0.0, 0.0, up=True)

    @property
    def link_id(self) -> str:
        """The link whose blocks this source produces."""
        return self.plan.link

    def blocks_due(self, now_s: float) -> list[KeyBlock]:
        """The blocks due by ``now_s`` not returned yet (at most :data:`CATCH_UP_BLOCKS`)."""
        ahead = 1 if self._holding else CATCH_UP_BLOCKS  # a full KME is offered the held block alone
        due = min(self.plan.blocks_due(now_s), self._next_index + ahead)
        events = self._events()
        made = []
        self._issued = {}
        for index in range(self._next_index, due):
            self._conditions = conditions_at(self.plan, events, index)
            block = make_block(self.plan, self._stream, self._conditions, index)
            if block is not None:
                made.append(block)
                self._issued[block.block_id] = index
        self._next_index = max(self._next_index, due)
        self._blocks += len(made)
        self._holding = False
        return made

    def hold(self, block: KeyBlock) -> None:
        """The KME did not take ``block`` (its pool is full): the next call starts again at it.

        ``block`` must come from the last call; the blocks after it in that call are taken back as well.
        """
        index = self._issued[block.block_id]
        self._blocks -= sum(1 for i in self._issued.values() if i >= index)
        self._issued = {}
        self._next_index = index
        self._holding = True

    def state(self) -> SourceState:
        """The conditions of the latest block: rate, QBER, and whether the fibre is cut."""
        rate = self._conditions.skr_bps
        reason = "" if self._conditions.up else "fibre cut"
        if self._holding:
            reason = "the KME's pool is full (max_key_count): key is held"
        return SourceState(
            up=self._conditions.up,
            qber=self._conditions.qber,
            skr_bps=rate,
            eskr_bps=0.0 if self._holding else min(rate, self.plan.intake_cap_bps),
            blocks=self._blocks,
            reason=reason,
        )
