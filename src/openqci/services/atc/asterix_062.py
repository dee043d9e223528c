"""ASTERIX category 062 (SDPS system track data), edition 1.18: a vectorised encoder and a library decoder.

Every record carries the same eleven data items, so every record is 42 bytes and a batch of them is one
array operation per item. The items, in the order of the standard user application profile (field
reference numbers in brackets), with their resolutions (EUROCONTROL-SPEC-0149-9, CAT062 edition 1.18):

========  ===  ========================================  =====  ==========================================
item      FRN  content                                   bytes  encoding
========  ===  ========================================  =====  ==========================================
I062/010  1    data source identifier: SAC, SIC          2      one byte each
I062/015  3    service identification                    1      unsigned
I062/070  4    time of track information                 3      unsigned, LSB 1/128 s since midnight UTC
I062/105  5    position in WGS-84: latitude, longitude   8      signed, LSB 180/2^25 degree each
I062/100  6    Cartesian position: x, y                  6      signed, LSB 0.5 m each
I062/185  7    Cartesian velocity: vx, vy                4      signed, LSB 0.25 m/s each
I062/060  9    track Mode 3/A code                       2      V, G, CH 0, spare, 12-bit octal code
I062/245  10   target identification                     7      STI 0 (downlinked), 8 six-bit characters
I062/040  12   track number                              2      unsigned
I062/080  13   track status                              2      octet 1 all 0 but FX; SIM, TSE, TSB
I062/136  17   measured flight level                     2      signed, LSB 1/4 FL
========  ===  ========================================  =====  ==========================================

In I062/080 the first octet says multisensor track (MON 0), no SPI, barometric altitude more reliable (MRH
0), no source for I062/130 (SRC 0), confirmed (CNF 0); the second carries SIM (simulated track), TSE (last
message for the track) and TSB (first message), with FPC, AFF, STP and KOS 0. Signed fields are two's
complement.

The FSPEC is therefore ``BF 6D 20``. Values are rounded to the nearest LSB, ties to even (as ``libasterix``
does, so that both give the same bytes). Records are packed into data blocks (``CAT=62``, 16-bit length)
of at most ``max_block_bytes`` bytes.

The reference for these bytes is ``libasterix`` (``asterix.generated.Cat_062_1_18``), which also encodes
(slowly, one Python object per subfield: :func:`encode_cat062_libasterix`) and decodes
(:func:`decode_records`). The user application profile, the first two octets of I062/080 and every other
item used here are the same in editions 1.16 to 1.21 (in 1.16 the V and G bits of I062/060 are spare, and
they are 0 here), so the bytes are valid in each of them; the tests check it with ``libasterix``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from openqci.errors import OpenQciError

__all__ = [
    "CATEGORY",
    "DEFAULT_BLOCK_BYTES",
    "EDITION",
    "FSPEC",
    "LSB",
    "RECORD_BYTES",
    "AsterixError",
    "TrackRecords",
    "decode_records",
    "encode_cat062",
    "encode_cat062_libasterix",
    "split_blocks",
]

CATEGORY = 62
EDITION = (1, 18)
FSPEC = bytes([0xBF, 0x6D, 0x20])
RECORD_BYTES = 42
DEFAULT_BLOCK_BYTES = 1472
"""A data block fits one UDP datagram on a 1,500-byte MTU (34 records)."""

LSB = {
    "time_of_day": 1.0 / 128.0,  # s
    "latitude": 180.0 / 2**25,  # degree
    "longitude": 180.0 / 2**25,  # degree
    "x": 0.5,  # m
    "y": 0.5,  # m
    "vx": 0.25,  # m/s
    "vy": 0.25,  # m/s
    "flight_level": 0.25,  # FL
}
"""Least significant bit of each quantity, in its unit."""

_DAY = 86_400.0

# ICAO 6-bit character set (Annex 10, Volume IV): A-Z are 1-26, space is 32, 0-9 are 48-57.
_SIXBIT = np.full(128, 0xFF, dtype=np.uint8)
_SIXBIT[ord("A") : ord("Z") + 1] = np.arange(1, 27)
_SIXBIT[ord("0") : ord("9") + 1] = np.arange(48, 58)
_SIXBIT[ord(" ")] = 32
_SIXBIT[0] = 32  # the padding of numpy's fixed-width strings


class AsterixError(OpenQciError, ValueError):
    """Track data that cannot be encoded (out of an item's range), or bytes that do not decode."""


@dataclass(frozen=True)
class TrackRecords:
    """System-track records as a structure of arrays: one entry per record in every field.

    Quantities are in the items' units: seconds of the day (UTC), degrees, metres, metres per second,
    flight levels (hundreds of feet). ``mode3a`` is the code as a number (``0o7654`` for 7654);
    ``callsign`` holds up to eight characters from A-Z, 0-9 and space. ``first`` and ``last`` are the
    TSB and TSE bits of I062/080 (first and last message for the track), ``simulated`` its SIM bit.
    """

    sac: NDArray[np.uint8]
    sic: NDArray[np.uint8]
    service_id: NDArray[np.uint8]
    time_of_day: NDArray[np.float64]
    latitude: NDArray[np.float64]
    longitude: NDArray[np.float64]
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    vx: NDArray[np.float64]
    vy: NDArray[np.float64]
    mode3a: NDArray[np.uint16]
    callsign: NDArray[np.str_]
    track_number: NDArray[np.uint16]
    flight_level: NDArray[np.float64]
    simulated: NDArray[np.bool_]
    first: NDArray[np.bool_]
    last: NDArray[np.bool_]

    def __len__(self) -> int:
        return int(np.asarray(self.track_number).size)

    @classmethod
    def build(
        cls,
        *,
        sac: ArrayLike,
        sic: ArrayLike,
        service_id: ArrayLike,
        time_of_day: ArrayLike,
        latitude: ArrayLike,
        longitude: ArrayLike,
        x: ArrayLike,
        y: ArrayLike,
        vx: ArrayLike,
        vy: ArrayLike,
        mode3a: ArrayLike,
        callsign: ArrayLike,
        track_number: ArrayLike,
        flight_level: ArrayLike,
        simulated: ArrayLike = True,
        first: ArrayLike = False,
        last: ArrayLike = False,
    ) -> TrackRecords:
        """Records from arrays or scalars (scalars are repeated), checked for the items' ranges."""
        n = int(np.asarray(track_number).size)
        callsigns = np.asarray(callsign)
        if callsigns.dtype.kind != "U":
            raise AsterixError("callsign must be strings")
        if callsigns.size and int(np.char.str_len(callsigns).max()) > 8:
            raise AsterixError("a callsign has more than 8 characters")

        def col(v: ArrayLike, dtype: type[np.generic], name: str) -> Any:
            a = np.asarray(v)
            whole = np.all(np.isfinite(a)) and np.all(a == np.round(a)) if a.dtype.kind == "f" else True
            if dtype is not np.float64 and not whole:
                raise AsterixError(f"{name} must be whole numbers")
            if a.size and dtype is not np.float64 and dtype is not np.bool_:
                info = np.iinfo(dtype)  # type: ignore[type-var]
                if a.min() < info.min or a.max() > info.max:
                    raise AsterixError(f"{name} out of range {info.min}..{info.max}")
            return np.broadcast_to(a.astype(dtype), (n,)).copy()

        records = cls(
            sac=col(sac, np.uint8, "sac"),
            sic=col(sic, np.uint8, "sic"),
            service_id=col(service_id, np.uint8, "service_id"),
            time_of_day=col(time_of_day, np.float64, "time_of_day"),
            latitude=col(latitude, np.float64, "latitude"),
            longitude=col(longitude, np.float64, "longitude"),
            x=col(x, np.float64, "x"),
            y=col(y, np.float64, "y"),
            vx=col(vx, np.float64, "vx"),
            vy=col(vy, np.float64, "vy"),
            mode3a=col(mode3a, np.uint16, "mode3a"),
            callsign=np.broadcast_to(callsigns.astype("<U8"), (n,)).copy(),
            track_number=col(track_number, np.uint16, "track_number"),
            flight_level=col(flight_level, np.float64, "flight_level"),
            simulated=col(simulated, np.bool_, "simulated"),
            first=col(first, np.bool_, "first"),
            last=col(last, np.bool_, "last"),
        )
        if records.mode3a.size and int(records.mode3a.max()) > 0o7777:
            raise AsterixError("mode3a out of range 0o0000..0o7777")
        return records

    def take(self, index: ArrayLike) -> TrackRecords:
        """The records at ``index`` (an index array or a boolean mask)."""
        return TrackRecords(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @classmethod
    def concatenate(cls, parts: list[TrackRecords]) -> TrackRecords:
        """One set of records from several, in order."""
        return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)})


# --- the vectorised encoder -----------------------------------------------------------------------------


def _quantise(values: NDArray[np.float64], lsb: float, low: int, high: int, name: str) -> NDArray[np.int64]:
    """Nearest whole number of LSBs (ties to even, like Python's ``round``), checked against the range."""
    if not np.all(np.isfinite(values)):
        raise AsterixError(f"{name}: not a finite number")
    raw = np.rint(values / lsb)
    if raw.size and (raw.min() < low or raw.max() > high):
        raise AsterixError(f"{name} out of range: {low * lsb}..{high * lsb}")
    return raw.astype(np.int64)


def _unsigned(values: NDArray[np.integer[Any]], high: int, name: str) -> NDArray[np.int64]:
    """Whole numbers checked against ``0..high`` (records built without :meth:`TrackRecords.build`)."""
    raw = np.asarray(values)
    if raw.dtype.kind not in "ui" or raw.min() < 0 or raw.max() > high:
        raise AsterixError(f"{name} must be whole numbers in 0..{high}")
    return raw.astype(np.int64)


def _big_endian(values: NDArray[np.int64], width: int) -> NDArray[np.uint8]:
    """The low ``width`` bytes of each value, most significant first (two's complement for negatives)."""
    as_bytes = values.astype(">i8").view(np.uint8).reshape(-1, 8)
    return as_bytes[:, 8 - width :]


def _sixbit(callsign: NDArray[np.str_]) -> NDArray[np.uint8]:
    """Six bytes per callsign: eight 6-bit characters, space padded."""
    codepoints = np.ascontiguousarray(callsign.astype("<U8")).view(np.uint32).reshape(-1, 8)
    if codepoints.size and int(codepoints.max()) > 127:
        raise AsterixError("callsign: only A-Z, 0-9 and space can be encoded")
    codes = _SIXBIT[codepoints]
    if np.any(codes == 0xFF):
        raise AsterixError("callsign: only A-Z, 0-9 and space can be encoded")
    shifts = np.arange(42, -1, -6, dtype=np.uint64)
    packed = np.bitwise_or.reduce(codes.astype(np.uint64) << shifts, axis=1)
    chars: NDArray[np.uint8] = packed.astype(">u8").view(np.uint8).reshape(-1, 8)[:, 2:]
    return chars


def encode_records(records: TrackRecords) -> NDArray[np.uint8]:
    """The records' bytes, one row of :data:`RECORD_BYTES` per record (no data-block header)."""
    n = len(records)
    out = np.empty((n, RECORD_BYTES), dtype=np.uint8)
    if n == 0:
        return out
    tod = records.time_of_day
    if not np.all(np.isfinite(tod)) or tod.min() < 0.0 or tod.max() >= _DAY:
        raise AsterixError("time_of_day must be in [0, 86400) s")
    # the last 1/256 s of the day rounds up to midnight, which the item writes as 0
    t = _quantise(tod, LSB["time_of_day"], 0, int(_DAY * 128), "time_of_day") % int(_DAY * 128)
    lat = _quantise(records.latitude, LSB["latitude"], -(2**24), 2**24, "latitude")
    lon = _quantise(records.longitude, LSB["longitude"], -(2**25), 2**25 - 1, "longitude")
    x = _quantise(records.x, LSB["x"], -(2**23), 2**23 - 1, "x")
    y = _quantise(records.y, LSB["y"], -(2**23), 2**23 - 1, "y")
    vx = _quantise(records.vx, LSB["vx"], -(2**15), 2**15 - 1, "vx")
    vy = _quantise(records.vy, LSB["vy"], -(2**15), 2**15 - 1, "vy")
    fl = _quantise(records.flight_level, LSB["flight_level"], -15 * 4, 1500 * 4, "flight_level")
    sac = _unsigned(records.sac, 0xFF, "sac")
    sic = _unsigned(records.sic, 0xFF, "sic")
    service_id = _unsigned(records.service_id, 0xFF, "service_id")
    mode3a = _unsigned(records.mode3a, 0o7777, "mode3a")
    track_number = _unsigned(records.track_number, 0xFFFF, "track_number")

    out[:, 0:3] = np.frombuffer(FSPEC, dtype=np.uint8)
    out[:, 3] = sac
    out[:, 4] = sic
    out[:, 5] = service_id
    out[:, 6:9] = _big_endian(t, 3)
    out[:, 9:13] = _big_endian(lat, 4)
    out[:, 13:17] = _big_endian(lon, 4)
    out[:, 17:20] = _big_endian(x, 3)
    out[:, 20:23] = _big_endian(y, 3)
    out[:, 23:25] = _big_endian(vx, 2)
    out[:, 25:27] = _big_endian(vy, 2)
    out[:, 27:29] = _big_endian(mode3a, 2)
    out[:, 29] = 0  # STI 00 and six spare bits
    out[:, 30:36] = _sixbit(records.callsign)
    out[:, 36:38] = _big_endian(track_number, 2)
    out[:, 38] = 0x01  # MON SPI MRH SRC CNF all 0, FX: a second octet follows
    out[:, 39] = (
        (records.simulated.astype(np.uint8) << 7)
        | (records.last.astype(np.uint8) << 6)
        | (records.first.astype(np.uint8) << 5)
    )
    out[:, 40:42] = _big_endian(fl, 2)
    return out


def _records_per_block(max_block_bytes: int) -> int:
    if not 3 + RECORD_BYTES <= max_block_bytes <= 65_535:
        raise AsterixError(f"max_block_bytes must be in {3 + RECORD_BYTES}..65535")
    return (max_block_bytes - 3) // RECORD_BYTES


def encode_cat062(records: TrackRecords, *, max_block_bytes: int = DEFAULT_BLOCK_BYTES) -> bytes:
    """CAT062 data blocks holding ``records`` in order, each at most ``max_block_bytes`` long.

    Raises :class:`AsterixError` if a value is outside its item's range (the library would wrap it).
    """
    per_block = _records_per_block(max_block_bytes)
    rows = encode_records(records)
    n = rows.shape[0]
    if n == 0:
        return b""
    full, rest = divmod(n, per_block)
    blocks = full + (1 if rest else 0)
    block_len = 3 + RECORD_BYTES * per_block
    out = np.empty(n * RECORD_BYTES + 3 * blocks, dtype=np.uint8)
    if full:
        view = out[: full * block_len].reshape(full, block_len)
        view[:, 0] = CATEGORY
        view[:, 1] = block_len >> 8
        view[:, 2] = block_len & 0xFF
        view[:, 3:] = rows[: full * per_block].reshape(full, per_block * RECORD_BYTES)
    if rest:
        tail = out[full * block_len :]
        last_len = 3 + RECORD_BYTES * rest
        tail[0], tail[1], tail[2] = CATEGORY, last_len >> 8, last_len & 0xFF
        tail[3:] = rows[full * per_block :].reshape(-1)
    return out.tobytes()


def split_blocks(data: bytes) -> Iterator[tuple[int, bytes]]:
    """The data blocks of a buffer, as (category, the block's bytes with its header)."""
    offset = 0
    while offset < len(data):
        if len(data) - offset < 3:
            raise AsterixError(f"truncated data block header at byte {offset}")
        length = int.from_bytes(data[offset + 1 : offset + 3], "big")
        if length < 3 or offset + length > len(data):
            raise AsterixError(f"data block at byte {offset} has a bad length {length}")
        yield data[offset], data[offset : offset + length]
        offset += length


# --- the library: reference encoder and decoder ---------------------------------------------------------


def _library() -> Any:
    """``libasterix``'s CAT062 edition 1.18 (imported on first use: the module is large)."""
    import asterix.generated as gen

    return gen.Cat_062_1_18


def _library_record(spec: Any, r: TrackRecords, i: int) -> Any:
    code = ("MODE3A", f"{int(r.mode3a[i]):04o}")
    # I062/060 has V and G ahead of CH from edition 1.17 on; in 1.16 those two bits are spare
    mode3a = (
        (0, 0, 0, 0, code)
        if len(spec.cv_record.spec("060").cv_rule.cv_variation.cv_items_list) == 5
        else (0, 0, 0, code)
    )
    return spec.cv_record.create(
        {
            "010": (("SAC", int(r.sac[i])), ("SIC", int(r.sic[i]))),
            "015": int(r.service_id[i]),
            "070": (float(r.time_of_day[i]), "s"),
            "105": (("LAT", (float(r.latitude[i]), "°")), ("LON", (float(r.longitude[i]), "°"))),
            "100": (("X", (float(r.x[i]), "m")), ("Y", (float(r.y[i]), "m"))),
            "185": (("VX", (float(r.vx[i]), "m/s")), ("VY", (float(r.vy[i]), "m/s"))),
            "060": mode3a,
            "245": (("STI", 0), 0, ("CHR", str(r.callsign[i]))),
            "040": int(r.track_number[i]),
            "080": (
                (0, 0, 0, 0, 0, None),
                (int(r.simulated[i]), int(r.last[i]), int(r.first[i]), 0, 0, 0, 0, None),
            ),
            "136": (float(r.flight_level[i]), "FL"),
        }
    )


def encode_cat062_libasterix(records: TrackRecords, *, max_block_bytes: int = DEFAULT_BLOCK_BYTES) -> bytes:
    """The same data blocks as :func:`encode_cat062`, built record by record with ``libasterix``.

    The reference the vectorised encoder is tested against, and the baseline of its benchmark. It does not
    check ranges (``libasterix`` wraps a value that does not fit).
    """
    spec = _library()
    per_block = _records_per_block(max_block_bytes)
    blocks = []
    for start in range(0, len(records), per_block):
        chunk = [
            _library_record(spec, records, i) for i in range(start, min(start + per_block, len(records)))
        ]
        blocks.append(spec.create(chunk).unparse().to_bytes())
    return b"".join(blocks)


def _sub(item: Any, name: str) -> Any:
    sub = item.variation.get_item(name)
    if sub is None:
        raise AsterixError(f"subfield {name} missing")
    return sub.variation.content


def decode_records(data: bytes) -> TrackRecords:
    """Decode CAT062 data blocks with ``libasterix`` (edition 1.18) into records.

    Every record must carry the items that :func:`encode_cat062` writes; other items are ignored, as are
    data blocks of other categories. Blocks are parsed one at a time (``libasterix`` recurses once per
    block of a buffer and would reach Python's recursion limit on a thousand of them).
    """
    from asterix.base import Bits, RawDatablock

    spec = _library()
    columns: dict[str, list[Any]] = {f.name: [] for f in fields(TrackRecords)}
    for category, block in split_blocks(data):
        if category != CATEGORY:
            continue
        raw = RawDatablock.parse(Bits.from_bytes(block))
        if isinstance(raw, ValueError):
            raise AsterixError(f"data block does not parse: {raw}")
        for datablock in raw:
            parsed = spec.cv_uap.parse(datablock.get_raw_records())
            if isinstance(parsed, ValueError):
                raise AsterixError(f"CAT062 records do not parse: {parsed}")
            for record in parsed:
                _decode_one(record, columns)
    arrays = {k: np.array(v) for k, v in columns.items()}
    if not columns["callsign"]:
        arrays["callsign"] = np.zeros(0, dtype="<U8")
    return TrackRecords.build(**arrays)


def _decode_one(record: Any, columns: dict[str, list[Any]]) -> None:
    items = {}
    for name in ("010", "015", "070", "105", "100", "185", "060", "245", "040", "080", "136"):
        item = record.get_item(name)
        if item is None:
            raise AsterixError(f"record without I062/{name}")
        items[name] = item
    status = items["080"].variation
    columns["sac"].append(_sub(items["010"], "SAC").as_uint())
    columns["sic"].append(_sub(items["010"], "SIC").as_uint())
    columns["service_id"].append(items["015"].variation.content.as_uint())
    columns["time_of_day"].append(float(items["070"].variation.content.as_quantity("s")))
    columns["latitude"].append(float(_sub(items["105"], "LAT").as_quantity("°")))
    columns["longitude"].append(float(_sub(items["105"], "LON").as_quantity("°")))
    columns["x"].append(float(_sub(items["100"], "X").as_quantity("m")))
    columns["y"].append(float(_sub(items["100"], "Y").as_quantity("m")))
    columns["vx"].append(float(_sub(items["185"], "VX").as_quantity("m/s")))
    columns["vy"].append(float(_sub(items["185"], "VY").as_quantity("m/s")))
    columns["mode3a"].append(int(_sub(items["060"], "MODE3A").as_string(), 8))
    columns["callsign"].append(str(_sub(items["245"], "CHR").as_string()).rstrip(" "))
    columns["track_number"].append(items["040"].variation.content.as_uint())
    columns["flight_level"].append(float(items["136"].variation.content.as_quantity("FL")))
    for flag, name in (("simulated", "SIM"), ("first", "TSB"), ("last", "TSE")):
        sub = status.get_item(name)
        columns[flag].append(bool(sub.variation.content.as_uint()) if sub is not None else False)
