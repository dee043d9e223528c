"""The engine as a key source: blocks in step with the wall clock, none through a cut, rates reported."""

from __future__ import annotations

import numpy as np
import pytest

from openqci.keysource import KeySource
from openqci.network.engine_source import MAX_LAG_BLOCKS, EngineKeySource, coalesce
from openqci.network.link_simulator import ChannelEvent, LinkPlan

PLAN = LinkPlan(
    "a-b", "a", "b", "lim2014", "decoy-bb84", 10.0, 1.0, 65536.0, 1.0, 1000.0, 256, source="engine"
)


def _source(start_s: float) -> EngineKeySource:
    return EngineKeySource(PLAN, rng=np.random.default_rng(7), start_s=start_s, block_bits=1 << 16)


def test_blocks_fall_due_with_the_transmission_they_stand_for() -> None:
    source = _source(1000.0)
    assert isinstance(source, KeySource)
    assert not source.started
    assert source.blocks_due(1000.0 + 0.5 * source.block_s) == []
    made = source.blocks_due(1000.0 + 2.5 * source.block_s)
    assert len(made) == 2
    assert len({b.block_id for b in made}) == 2
    assert all(b.link_id == "a-b" and b.size_bits > 0 and b.qber < 0.05 for b in made)
    state = source.state()
    assert state.up
    assert state.blocks == 2
    assert 0 < state.eskr_bps <= state.skr_bps
    assert source.next_due_s == 1000.0 + 3 * source.block_s


def test_an_engine_far_behind_gives_up_the_transmission_it_missed() -> None:
    source = _source(1000.0)
    made = source.blocks_due(1000.0 + (MAX_LAG_BLOCKS + 50) * source.block_s)
    assert len(made) == 1


def test_a_cut_fibre_makes_no_key_and_an_eavesdropper_aborts() -> None:
    source = _source(1000.0)
    source.set_events([ChannelEvent(from_block=0, cut=True)])
    assert source.blocks_due(1000.0 + 3 * source.block_s) == []
    assert not source.state().up
    assert source.state().reason == "fibre cut"
    source.set_events([ChannelEvent(from_block=0, intercept_resend=0.5)])
    assert source.blocks_due(1000.0 + 5 * source.block_s) == []
    assert source.aborted == 2
    assert source.state().up
    assert source.state().qber > 0.1


def test_coalesced_blocks_keep_every_key_bit_and_the_weakest_bound() -> None:
    source = _source(1000.0)
    made = [b for i in range(1, 4) for b in source.blocks_due(1000.0 + (i + 0.5) * source.block_s)]
    assert len(made) == 3
    assert all(b.size_bits % PLAN.unit_bits == 0 for b in made)  # whole units: they join byte for byte
    joined = coalesce(made)
    assert joined.bits == b"".join(b.bits for b in made)
    assert joined.size_bits == sum(b.size_bits for b in made)
    assert joined.qber == max(b.qber for b in made)
    assert joined.epsilon == pytest.approx(sum(b.epsilon for b in made))
    assert joined.block_id not in {b.block_id for b in made}
    assert coalesce(made[:1]) is made[0]
    with pytest.raises(ValueError, match="no block"):
        coalesce([])
