"""Key units: how KeyBlocks are cut into units and how units are joined into delivered keys.

Both ends of a link receive the same KeyBlock, so they cut it the same way: unit ``i`` holds bytes
``[i * unit_bytes, (i + 1) * unit_bytes)`` of the block, and its key ID is the name-based UUID (version 5,
RFC 9562) of the block's UUID and ``i``. Neither end has to tell the other what it cut. A trailing
fragment shorter than one unit is dropped at both ends.

The pool of a link is split between its two ends so that both can serve master SAEs at the same time
without asking each other first: the KME whose ID sorts first allocates the units whose owner bit
(:func:`unit_owner`) is 0, the other those whose bit is 1. A key of ``size`` bits is the concatenation
of ``ceil(size / unit_bits)`` units cut to ``size / 8`` bytes; its key_ID is the ID of its first unit.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from openqci.keysource import KeyBlock

__all__ = [
    "UnitCut",
    "cut_block",
    "join_units",
    "owned_parity",
    "pool_cap_units",
    "unit_key_id",
    "unit_key_id_texts",
    "unit_owner",
    "units_per_key",
]

_UNIT_NAMESPACE = uuid.UUID("6f0d3a52-2b8e-5c1e-9a57-4f3c1d2e8b90")


@dataclass(frozen=True)
class UnitCut:
    """One unit cut from a block: its ID, its index in the block and its bytes (never shown in a repr)."""

    unit_id: uuid.UUID
    index: int
    material: bytes

    def __repr__(self) -> str:
        return f"UnitCut(unit_id={self.unit_id}, index={self.index}, bytes={len(self.material)})"


def unit_key_id(block_id: uuid.UUID, index: int) -> uuid.UUID:
    """Return the key ID of unit ``index`` of block ``block_id``, the same at both ends of the link.

    Examples
    --------
    >>> b = uuid.UUID(int=1)
    >>> unit_key_id(b, 0) == unit_key_id(b, 0) and unit_key_id(b, 0) != unit_key_id(b, 1)
    True
    """
    return uuid.uuid5(_UNIT_NAMESPACE, f"{block_id}/{index}")


def unit_key_id_texts(block_id: uuid.UUID, count: int) -> list[str]:
    """Return ``str(unit_key_id(block_id, i))`` for ``i`` in ``range(count)``, without a UUID object each.

    A KME stores every unit of every block, hundreds a second per link: the name-based UUID computed here
    byte for byte as :func:`uuid.uuid5` does (SHA-1 of namespace and name, version 5, RFC 4122 variant)
    costs a fraction of building and printing one :class:`uuid.UUID` per unit.

    Examples
    --------
    >>> b = uuid.UUID(int=7)
    >>> unit_key_id_texts(b, 2) == [str(unit_key_id(b, 0)), str(unit_key_id(b, 1))]
    True
    """
    prefix = hashlib.sha1(_UNIT_NAMESPACE.bytes + f"{block_id}/".encode(), usedforsecurity=False)
    texts = []
    for index in range(count):
        digest = prefix.copy()
        digest.update(str(index).encode())
        raw = bytearray(digest.digest()[:16])
        raw[6] = (raw[6] & 0x0F) | 0x50
        raw[8] = (raw[8] & 0x3F) | 0x80
        h = raw.hex()
        texts.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return texts


def cut_block(block: KeyBlock, unit_bits: int) -> list[UnitCut]:
    """Cut ``block`` into whole units of ``unit_bits`` bits (a multiple of 8); the tail is dropped."""
    if unit_bits <= 0 or unit_bits % 8:
        raise ValueError(f"unit_bits must be a positive multiple of 8, got {unit_bits}")
    unit_bytes = unit_bits // 8
    count = block.size_bits // unit_bits
    return [
        UnitCut(unit_key_id(block.block_id, i), i, block.bits[i * unit_bytes : (i + 1) * unit_bytes])
        for i in range(count)
    ]


def units_per_key(size_bits: int, unit_bits: int) -> int:
    """Return how many units one key of ``size_bits`` bits takes."""
    return -(-size_bits // unit_bits)


def join_units(materials: list[bytes], size_bits: int) -> bytes:
    """Join unit materials in order and cut the result to ``size_bits / 8`` bytes."""
    joined = b"".join(materials)
    if 8 * len(joined) < size_bits:
        raise ValueError(f"{len(materials)} units hold {8 * len(joined)} bits, fewer than {size_bits}")
    return joined[: size_bits // 8]


def unit_owner(block_id: uuid.UUID, index: int, count: int) -> int:
    """Return the owner bit (0 or 1) of unit ``index`` of a block of ``count`` units.

    Units alternate inside a block, from 0 when the count is even; a block of an odd count starts from a
    bit of its ID, so its odd unit goes to either end alike. A slow link's blocks hold one unit each: had
    the bit been the index alone, every unit would go to the same end and the other half would stay empty.
    Both ends know the block, so they agree on every unit's owner without talking.
    """
    start = block_id.int & 1 if count % 2 else 0
    return (index + start) % 2


def owned_parity(local_kme_id: str, peer_kme_id: str) -> int:
    """Return the owner bit (0 or 1, see :func:`unit_owner`) of the units this end of a link allocates."""
    if local_kme_id == peer_kme_id:
        raise ValueError(f"a link needs two different KMEs, got {local_kme_id!r} twice")
    return 0 if local_kme_id < peer_kme_id else 1


def pool_cap_units(max_key_count: int, key_size_bits: int, unit_bits: int) -> int:
    """Return the free units (both halves) at which a link end's pool is full and takes no new block.

    Each end allocates half of the link's units, so the cap is ``max_key_count`` keys of ``key_size_bits``
    for each half. Both ends store the same blocks and learn of each other's deliveries within moments,
    so they count nearly the same free units and hold at nearly the same time.

    Examples
    --------
    >>> pool_cap_units(1000, 256, 256)
    2000
    """
    return 2 * max_key_count * units_per_key(key_size_bits, unit_bits)
