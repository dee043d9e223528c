"""The vectorised CAT062 encoder against libasterix, byte for byte, and its bytes through two decoders.

libasterix (``asterix.generated``) is the reference encoder and the decoder of ``decode_records``;
asterix4py, written independently from the specification's XML description, is the second decoder.
"""

from __future__ import annotations

import numpy as np
import pytest
from asterix4py import AsterixParser
from hypothesis import given, settings
from hypothesis import strategies as st

from openqci.services.atc import (
    FSPEC,
    LSB,
    AsterixError,
    TrackRecords,
    decode_records,
    encode_cat062,
    encode_cat062_libasterix,
    split_blocks,
)

QUANTITIES = ("time_of_day", "latitude", "longitude", "x", "y", "vx", "vy", "flight_level")
EXACT = ("sac", "sic", "service_id", "mode3a", "callsign", "track_number", "simulated", "first", "last")

# Raw ranges (in LSBs) that the encoder accepts for each quantity.
RAW_RANGE = {
    "time_of_day": (0, 86_400 * 128 - 2),
    "latitude": (-(2**24), 2**24),
    "longitude": (-(2**25), 2**25 - 1),
    "x": (-(2**23), 2**23 - 1),
    "y": (-(2**23), 2**23 - 1),
    "vx": (-(2**15), 2**15 - 1),
    "vy": (-(2**15), 2**15 - 1),
    "flight_level": (-60, 6000),
}

CHARSET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 "


def _quantity(name: str) -> st.SearchStrategy[float]:
    """Any value in range, or a whole or half number of LSBs (exact values and rounding ties)."""
    low, high = RAW_RANGE[name]
    lsb = LSB[name]
    return st.one_of(
        st.floats(min_value=(low + 0.5) * lsb, max_value=(high - 0.5) * lsb),
        st.integers(min_value=2 * low + 1, max_value=2 * high - 1).map(lambda k: k * lsb / 2),
    )


@st.composite
def track_records(draw: st.DrawFn, max_size: int = 40) -> TrackRecords:
    n = draw(st.integers(min_value=0, max_value=max_size))

    def column(strategy: st.SearchStrategy[object]) -> list[object]:
        return draw(st.lists(strategy, min_size=n, max_size=n))

    callsign = st.text(alphabet=CHARSET, max_size=8).map(lambda s: s.rstrip(" "))
    return TrackRecords.build(
        sac=np.array(column(st.integers(0, 255)), dtype=np.int64),
        sic=np.array(column(st.integers(0, 255)), dtype=np.int64),
        service_id=np.array(column(st.integers(0, 255)), dtype=np.int64),
        mode3a=np.array(column(st.integers(0, 0o7777)), dtype=np.int64),
        track_number=np.array(column(st.integers(0, 65_535)), dtype=np.int64),
        callsign=np.array(column(callsign), dtype="<U8"),
        simulated=np.array(column(st.booleans()), dtype=bool),
        first=np.array(column(st.booleans()), dtype=bool),
        last=np.array(column(st.booleans()), dtype=bool),
        **{name: np.array(column(_quantity(name)), dtype=np.float64) for name in QUANTITIES},
    )


def _random_records(rng: np.random.Generator, n: int) -> TrackRecords:
    return TrackRecords.build(
        sac=rng.integers(0, 256, n),
        sic=rng.integers(0, 256, n),
        service_id=rng.integers(0, 256, n),
        time_of_day=rng.uniform(0.0, 86_399.0, n),
        latitude=rng.uniform(-90.0, 90.0, n),
        longitude=rng.uniform(-180.0, 179.999, n),
        x=rng.uniform(-4.19e6, 4.19e6, n),
        y=rng.uniform(-4.19e6, 4.19e6, n),
        vx=rng.uniform(-8190.0, 8190.0, n),
        vy=rng.uniform(-8190.0, 8190.0, n),
        mode3a=rng.integers(0, 0o10000, n),
        callsign=np.array(["".join(rng.choice(list(CHARSET[:-1]), rng.integers(0, 9))) for _ in range(n)]),
        track_number=rng.integers(0, 65_536, n),
        flight_level=rng.uniform(-15.0, 1500.0, n),
        simulated=rng.random(n) < 0.5,
        first=rng.random(n) < 0.5,
        last=rng.random(n) < 0.5,
    )


@settings(max_examples=150, deadline=None)
@given(records=track_records(), max_block_bytes=st.integers(min_value=45, max_value=65_535))
def test_encoder_matches_libasterix_byte_for_byte(records: TrackRecords, max_block_bytes: int) -> None:
    ours = encode_cat062(records, max_block_bytes=max_block_bytes)
    assert ours == encode_cat062_libasterix(records, max_block_bytes=max_block_bytes)


def test_encoder_matches_libasterix_on_a_thousand_random_records(rng: np.random.Generator) -> None:
    records = _random_records(rng, 1000)
    assert encode_cat062(records) == encode_cat062_libasterix(records)


def test_one_record_written_out() -> None:
    records = TrackRecords.build(
        sac=1,
        sic=2,
        service_id=3,
        time_of_day=3600.5,
        latitude=43.6289,
        longitude=1.3678,
        x=-123_456.25,
        y=-5000.0,
        vx=-120.3,
        vy=55.0,
        mode3a=0o7654,
        callsign="AFR1234",
        track_number=4242,
        flight_level=350.25,
        simulated=True,
        first=True,
    )
    expected = bytes.fromhex(
        "3e 002d"  # CAT 62, LEN 45
        "bf 6d 20"  # FSPEC: 010 - 015 070 105 100 185 FX | - 060 245 - 040 080 - FX | - - 136
        "01 02"  # I062/010: SAC 1, SIC 2
        "03"  # I062/015
        "07 08 40"  # I062/070: 3600.5 s * 128 = 460,864
        "00 7c 19 98"  # I062/105 latitude: 43.6289 deg / (180 / 2^25) = 8,133,016.43 -> 8,133,016
        "00 03 e4 00"  # longitude: 1.3678 deg -> 254,976.40 -> 254,976
        "fc 3b 80"  # I062/100 x: -123,456.25 m / 0.5 = -246,912.5, a tie, to the even -246,912
        "ff d8 f0"  # y: -10,000
        "fe 1f"  # I062/185 vx: -120.3 m/s / 0.25 = -481.2 -> -481
        "00 dc"  # vy: 220
        "0f ac"  # I062/060: V G CH spare 0, code 7654 octal
        "00"  # I062/245: STI 0 and spare
        "04 64 b1 cb 3d 20"  # "AFR1234 " in 6 bits: 1 6 18 49 50 51 52 32
        "10 92"  # I062/040: 4242
        "01"  # I062/080 first octet: MON SPI MRH SRC CNF 0, FX
        "a0"  # second: SIM 1, TSE 0, TSB 1, FPC AFF STP KOS 0, FX 0
        "05 79"  # I062/136: 350.25 FL * 4 = 1401
    )
    assert encode_cat062(records) == expected
    assert encode_cat062_libasterix(records) == expected


def test_blocks_respect_the_size_limit_and_split_in_order(rng: np.random.Generator) -> None:
    records = _random_records(rng, 100)
    data = encode_cat062(records)  # 1,472 bytes: 34 records a block
    blocks = list(split_blocks(data))
    assert [len(b) for _, b in blocks] == [3 + 34 * 42, 3 + 34 * 42, 3 + 32 * 42]
    assert all(category == 62 and b[3:6] == FSPEC for category, b in blocks)
    one_block = encode_cat062(records, max_block_bytes=65_535)
    assert len(list(split_blocks(one_block))) == 1
    assert one_block[3:] == b"".join(b[3:] for _, b in blocks)


def test_no_records_no_bytes() -> None:
    empty = TrackRecords.build(
        sac=[], sic=[], service_id=[], time_of_day=[], latitude=[], longitude=[], x=[], y=[], vx=[], vy=[],
        mode3a=[], callsign=np.zeros(0, dtype="<U8"), track_number=[], flight_level=[],
    )  # fmt: skip
    assert encode_cat062(empty) == b""
    assert len(decode_records(b"")) == 0


def _assert_round_trip(sent: TrackRecords, received: TrackRecords) -> None:
    assert len(received) == len(sent)
    for name in QUANTITIES:
        error = np.abs(getattr(received, name) - getattr(sent, name))
        assert error.max() <= LSB[name] / 2, name
    for name in EXACT:
        np.testing.assert_array_equal(getattr(received, name), getattr(sent, name), err_msg=name)


def test_libasterix_decodes_the_records_back(rng: np.random.Generator) -> None:
    records = _random_records(rng, 300)
    _assert_round_trip(records, decode_records(encode_cat062(records)))


def test_a_thousand_blocks_in_one_buffer_decode() -> None:
    # libasterix alone overflows the recursion limit on ~1,000 blocks in one buffer; decode_records splits
    records = _random_records(np.random.default_rng(7), 1200)
    data = encode_cat062(records, max_block_bytes=45)  # one record a block
    assert len(list(split_blocks(data))) == 1200
    _assert_round_trip(records, decode_records(data))


# asterix4py loads its XML with importlib.resources.read_text (and so open_text), deprecated in Python 3.11
@pytest.mark.filterwarnings(r"ignore:\w+ is deprecated. Use files\(\) instead:DeprecationWarning")
def test_asterix4py_decodes_the_records_back(rng: np.random.Generator) -> None:
    records = _random_records(rng, 300)
    decoded = AsterixParser(encode_cat062(records)).get_result()
    assert len(decoded) == len(records)
    rows = [decoded[i + 1] for i in range(len(records))]
    got = {
        "time_of_day": [r["070"]["ToT"] for r in rows],
        "latitude": [r["105"]["Lat"] for r in rows],
        "longitude": [r["105"]["Lon"] for r in rows],
        "x": [r["100"]["X"] for r in rows],
        "y": [r["100"]["Y"] for r in rows],
        "vx": [r["185"]["Vx"] for r in rows],
        "vy": [r["185"]["Vy"] for r in rows],
        "flight_level": [r["136"]["MFL"] / 100.0 for r in rows],  # asterix4py gives feet
    }
    for name, values in got.items():
        error = np.abs(np.array(values) - getattr(records, name))
        assert error.max() <= LSB[name] / 2 + 1e-9, name
    assert [r["010"]["SAC"] for r in rows] == records.sac.tolist()
    assert [r["010"]["SIC"] for r in rows] == records.sic.tolist()
    assert [r["015"]["SID"] for r in rows] == records.service_id.tolist()
    assert [int(r["060"]["Mode3A"], 8) for r in rows] == records.mode3a.tolist()
    assert [r["245"]["TId"].rstrip(" ") for r in rows] == records.callsign.tolist()
    assert [r["245"]["STI"] for r in rows] == [0] * len(records)
    assert [r["040"]["TrkN"] for r in rows] == records.track_number.tolist()
    assert [bool(r["080"]["SIM"]) for r in rows] == records.simulated.tolist()
    assert [bool(r["080"]["TSB"]) for r in rows] == records.first.tolist()
    assert [bool(r["080"]["TSE"]) for r in rows] == records.last.tolist()


@pytest.mark.parametrize("edition", ["1_16", "1_17", "1_18", "1_19", "1_20", "1_21"])
def test_the_bytes_are_the_same_in_editions_1_16_to_1_21(edition: str, rng: np.random.Generator) -> None:
    import asterix.generated as gen
    from asterix.base import Bits, RawDatablock

    from openqci.services.atc import asterix_062

    records = _random_records(rng, 20)
    spec = getattr(gen, f"Cat_062_{edition}")
    built_records = [asterix_062._library_record(spec, records, i) for i in range(20)]
    built = spec.create(built_records)
    data = encode_cat062(records, max_block_bytes=65_535)
    assert built.unparse().to_bytes() == data
    (block,) = RawDatablock.parse(Bits.from_bytes(data))
    assert len(spec.cv_uap.parse(block.get_raw_records())) == 20


def _one(**change: object) -> TrackRecords:
    values: dict[str, object] = dict(
        sac=0, sic=1, service_id=1, time_of_day=0.0, latitude=45.0, longitude=2.0, x=0.0, y=0.0, vx=0.0,
        vy=0.0, mode3a=0o1234, callsign="AFR1", track_number=1, flight_level=100.0,
    )  # fmt: skip
    values.update(change)
    return TrackRecords.build(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "change",
    [
        {"latitude": 90.01},
        {"longitude": 180.0},
        {"x": 4_194_304.0},
        {"y": -4_194_305.0},
        {"vx": 8192.0},
        {"flight_level": 1500.25},
        {"flight_level": -15.25},
        {"time_of_day": 86_400.0},
        {"time_of_day": -0.01},
        {"latitude": float("nan")},
        {"callsign": "afr1"},
        {"callsign": "AFR-1"},
    ],
)
def test_values_outside_an_item_are_refused(change: dict[str, object]) -> None:
    with pytest.raises(AsterixError):
        encode_cat062(_one(**change))


@pytest.mark.parametrize(
    "change", [{"callsign": "AFR123456"}, {"mode3a": 0o10000}, {"track_number": 65_536}, {"sac": 256}]
)
def test_records_outside_the_fields_are_refused(change: dict[str, object]) -> None:
    with pytest.raises(AsterixError):
        _one(**change)


def test_records_built_directly_are_checked_too() -> None:
    from dataclasses import replace

    record = _one()
    with pytest.raises(AsterixError, match="sac"):
        encode_cat062(replace(record, sac=np.array([300])))
    with pytest.raises(AsterixError, match="mode3a"):
        encode_cat062(replace(record, mode3a=np.array([0o10000])))
    with pytest.raises(AsterixError, match="track_number"):
        encode_cat062(replace(record, track_number=np.array([-1])))


def test_decoder_refuses_truncated_and_foreign_bytes(rng: np.random.Generator) -> None:
    data = encode_cat062(_random_records(rng, 3))
    with pytest.raises(AsterixError):
        decode_records(data[:-1])
    with pytest.raises(AsterixError):
        decode_records(data + b"\x3e\x00")
    other = bytes([48, 0, 4, 0])  # a CAT048 block is skipped
    assert len(decode_records(other + data)) == 3
