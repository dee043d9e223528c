"""Air-traffic-control tracks: surveillance over France as ASTERIX CAT062 system-track records.

The Toulouse use case sends the tracks of a radar data processing system from the civil-aviation site in
Toulouse to a control centre in the Paris region over a QKD-keyed channel. :mod:`.asterix_062` encodes
system-track records of CAT062 edition 1.18 with numpy, byte for byte as ``libasterix`` does, and decodes
them with ``libasterix``.
"""

from __future__ import annotations

from openqci.services.atc.asterix_062 import (
    CATEGORY,
    DEFAULT_BLOCK_BYTES,
    EDITION,
    FSPEC,
    LSB,
    RECORD_BYTES,
    AsterixError,
    TrackRecords,
    decode_records,
    encode_cat062,
    encode_cat062_libasterix,
    split_blocks,
)

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
