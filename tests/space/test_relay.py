"""A satellite as a trusted relay between two stations more than 2,000 km apart."""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openqci.keysource import KeyBlock
from openqci.space.errors import RelayError
from openqci.space.orbits import parse_tle_text
from openqci.space.pass_key import pass_key
from openqci.space.passes import Pass, find_passes, pass_track
from openqci.space.presets import get_mission
from openqci.space.relay import recover_relayed_key, relay_key, xor_keys
from openqci.space.stations import GroundStation

MICIUS = get_mission("micius2017")
SATELLITE = parse_tle_text((Path(__file__).parent / "data" / "micius_like.tle").read_text())[0]
XINGLONG = GroundStation("Xinglong", 40.3956, 117.575, 900.0, aperture_m=1.0, night_only=True)
NANSHAN = GroundStation("Nanshan", 43.4747, 87.1767, 2080.0, aperture_m=1.0, night_only=True)


def _block(rng: np.random.Generator, size_bits: int, link_id: str) -> KeyBlock:
    bits = np.packbits(rng.integers(0, 2, size_bits, dtype=np.uint8)).tobytes()
    return KeyBlock(link_id, uuid.UUID(int=int(rng.integers(0, 2**62))), bits, size_bits, 0.01, 1e-9)


def _keyed_passes(station: GroundStation) -> list[tuple[Pass, int]]:
    found = find_passes(SATELLITE, station, SATELLITE.epoch, 3 * 86_400.0)
    keys = [pass_key(MICIUS, station, [pass_track(SATELLITE, station, p)]).secret_key_bits for p in found]
    return [(p, k) for p, k in zip(found, keys, strict=True) if k > 0]


def test_relay_between_distant_stations_gives_identical_keys(rng: np.random.Generator) -> None:
    assert XINGLONG.distance_km(NANSHAN) > 2_000.0
    pass_a, bits_a = _keyed_passes(XINGLONG)[0]
    pass_b, bits_b = max(
        ((p, k) for p, k in _keyed_passes(NANSHAN) if p.end > pass_a.end), key=lambda pk: pk[1]
    )
    key_a, key_b = _block(rng, bits_a, "sat-xinglong"), _block(rng, bits_b, "sat-nanshan")
    outcome = relay_key(key_a, pass_a, key_b, pass_b)
    assert recover_relayed_key(outcome, key_b) == outcome.key_at_a
    assert outcome.size_bits == min(bits_a, bits_b) > 100_000
    assert outcome.published != outcome.key_at_a
    assert outcome.storage_duration_s == pytest.approx((pass_b.end - pass_a.end).total_seconds())
    assert outcome.storage_bits == bits_a + bits_b
    assert outcome.available_at == pass_b.end


def test_relay_refuses_wrong_order_and_other_satellites(rng: np.random.Generator) -> None:
    pass_a, _bits_a = _keyed_passes(XINGLONG)[0]
    later = replace(pass_a, start=pass_a.start.replace(year=2018), end=pass_a.end.replace(year=2018))
    key = _block(rng, 1000, "x")
    with pytest.raises(RelayError, match="after"):
        relay_key(key, later, key, pass_a)
    with pytest.raises(RelayError, match="one satellite"):
        relay_key(key, pass_a, key, replace(later, satellite="other"))
    with pytest.raises(RelayError, match="produced key"):
        relay_key(_block(rng, 0, "x"), pass_a, key, later)


@settings(max_examples=50, deadline=None)
@given(size_a=st.integers(1, 300), size_b=st.integers(1, 300), seed=st.integers(0, 2**32 - 1))
def test_xor_relay_recovers_a_for_any_sizes(size_a: int, size_b: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    key_a, key_b = _block(rng, size_a, "a"), _block(rng, size_b, "b")
    size = min(size_a, size_b)
    published = xor_keys(key_a.bits, key_b.bits, size)
    assert xor_keys(published, key_b.bits, size) == xor_keys(key_a.bits, bytes(len(key_a.bits)), size)
    assert len(published) == (size + 7) // 8
