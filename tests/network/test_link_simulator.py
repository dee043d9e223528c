"""The link key-supply simulator: identical blocks at both ends, the physics rate, an eavesdropper's mark."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from openqci.network.errors import LaunchError, UnknownLinkError
from openqci.network.link_simulator import (
    ChannelEvent,
    LinkKeyStream,
    LinkPlan,
    block_units,
    conditions_at,
    link_physics,
    make_block,
)
from openqci.network.statedir import (
    StateDir,
    append_channel_event,
    read_channel_events,
    read_secret,
    write_secret,
)
from openqci.physics.keyrate import secret_key_rate
from openqci.physics.presets import get_preset


def plan(
    *, speedup: float = 1.0, cap_bps: float = 65536.0, preset: str = "yuan2018", km: float = 25.0
) -> LinkPlan:
    return LinkPlan("ab", "a", "b", preset, "decoy-bb84", km, speedup, cap_bps, 1.0, 1000.0, 256)


def test_both_ends_make_identical_blocks_from_the_seed_and_other_seeds_differ() -> None:
    seed = os.urandom(32)
    at_a, at_b = LinkKeyStream(seed, "ab"), LinkKeyStream(seed, "ab")
    link = plan()
    conditions = conditions_at(link, [], 7)
    block_a, block_b = make_block(link, at_a, conditions, 7), make_block(link, at_b, conditions, 7)
    assert block_a is not None
    assert block_b is not None
    assert (block_a.block_id, block_a.bits, block_a.created_at) == (
        block_b.block_id,
        block_b.bits,
        block_b.created_at,
    )
    assert block_a.size_bits == 65536
    other = make_block(link, LinkKeyStream(os.urandom(32), "ab"), conditions, 7)
    assert other is not None
    assert other.bits != block_a.bits
    assert other.block_id != block_a.block_id
    next_block = make_block(link, at_a, conditions, 8)
    assert next_block is not None
    assert next_block.bits != block_a.bits


def test_key_stream_looks_uniform() -> None:
    bits = LinkKeyStream(os.urandom(32), "ab").bits(0, 1 << 16)
    ones = sum(bin(byte).count("1") for byte in bits)
    assert abs(ones / (8 << 16) - 0.5) < 0.005  # 5 sigma is about 0.0049 for 2^19 bits


def test_supply_follows_physics_times_speedup_below_the_intake_cap() -> None:
    slow = plan(preset="gys2004", km=40.0, speedup=10.0)
    physics = float(secret_key_rate(get_preset("gys2004"), 40.0).secret_key_rate_bps)
    conditions = conditions_at(slow, [], 0)
    assert conditions.skr_bps == pytest.approx(10.0 * physics)
    units = sum(block_units(slow, conditions, n) for n in range(1000))
    assert units * 256 / 1000 == pytest.approx(10.0 * physics, abs=256 / 1000)
    fast = plan()
    assert block_units(fast, conditions_at(fast, [], 0), 0) * 256 == 65536


def test_intercept_resend_raises_qber_by_a_quarter_and_stops_the_key() -> None:
    base_rate, base_qber = link_physics("yuan2018", "decoy-bb84", 25.0, 0.0)
    weak_rate, weak_qber = link_physics("yuan2018", "decoy-bb84", 25.0, 0.1)
    assert weak_qber == pytest.approx(base_qber + 0.025)
    assert 0.0 < weak_rate < base_rate
    link = plan()
    events = [ChannelEvent(10, intercept_resend=0.3), ChannelEvent(20, intercept_resend=0.0)]
    attacked = conditions_at(link, events, 15)
    assert attacked.qber == pytest.approx(base_qber + 0.075)
    assert attacked.skr_bps == 0.0
    assert make_block(link, LinkKeyStream(os.urandom(32), "ab"), attacked, 15) is None
    assert conditions_at(link, events, 9).skr_bps == conditions_at(link, events, 20).skr_bps == base_rate


def test_a_cut_fibre_is_down_and_makes_nothing() -> None:
    link = plan()
    cut = conditions_at(link, [ChannelEvent(3, cut=True)], 3)
    assert not cut.up
    assert make_block(link, LinkKeyStream(os.urandom(32), "ab"), cut, 3) is None


def test_blocks_fall_due_on_the_shared_schedule() -> None:
    link = plan()
    assert link.blocks_due(999.0) == 0
    assert link.blocks_due(1000.99) == 0
    assert link.blocks_due(1003.0) == 3
    assert link.due_at_s(2) == 1003.0


def test_secrets_are_private_files_never_overwritten(tmp_path: Path) -> None:
    layout = StateDir(tmp_path)
    write_secret(layout.seed_file("ab"), b"s" * 32)
    assert stat.S_IMODE(layout.seed_file("ab").stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        write_secret(layout.seed_file("ab"), b"t" * 32)
    layout.seed_file("ab").chmod(0o644)
    with pytest.raises(LaunchError, match="readable by others"):
        read_secret(layout.seed_file("ab"))


def test_channel_events_are_kept_per_link(tmp_path: Path) -> None:
    layout = StateDir(tmp_path)
    write_secret(layout.seed_file("ab"), b"s" * 32)
    append_channel_event(layout, "ab", ChannelEvent(5, 0.3))
    append_channel_event(layout, "ab", ChannelEvent(9, 0.0))
    assert read_channel_events(layout, "ab") == [ChannelEvent(5, 0.3), ChannelEvent(9, 0.0)]
    with pytest.raises(UnknownLinkError, match="links are: ab"):
        append_channel_event(layout, "cd", ChannelEvent(1, 0.3))
