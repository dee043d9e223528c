"""The rate model as a key source: each end of a link makes the link's blocks from its seed.

Both ends of a model-run link live in different processes and run one :class:`ModelKeySource` each; since
every block is a pure function of the plan, the seed and the block index
(:mod:`openqci.network.link_simulator`), they hand their KMEs identical blocks without talking.
"""

from __future__ import annotations

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
        self._blocks = 0
        self._conditions = ChannelConditions(0.0, 0.0, up=True)

    @property
    def link_id(self) -> str:
        """The link whose blocks this source produces."""
        return self.plan.link

    def blocks_due(self, now_s: float) -> list[KeyBlock]:
        """The blocks due by ``now_s`` not returned yet (at most :data:`CATCH_UP_BLOCKS`)."""
        due = min(self.plan.blocks_due(now_s), self._next_index + CATCH_UP_BLOCKS)
        events = self._events()
        made = []
        for index in range(self._next_index, due):
            self._conditions = conditions_at(self.plan, events, index)
            block = make_block(self.plan, self._stream, self._conditions, index)
            if block is not None:
                made.append(block)
        self._next_index = max(self._next_index, due)
        self._blocks += len(made)
        return made

    def state(self) -> SourceState:
        """The conditions of the latest block: rate, QBER, and whether the fibre is cut."""
        rate = self._conditions.skr_bps
        return SourceState(
            up=self._conditions.up,
            qber=self._conditions.qber,
            skr_bps=rate,
            eskr_bps=min(rate, self.plan.intake_cap_bps),
            blocks=self._blocks,
            reason="" if self._conditions.up else "fibre cut",
        )
