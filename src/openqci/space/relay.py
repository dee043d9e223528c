"""A satellite as a trusted relay: key shared with station A on one pass and B on a later one becomes A-B key.

After pass A the satellite holds key ``K_A`` (also held by A); after pass B it holds ``K_B`` (also held by B).
It then publishes ``K_A xor K_B`` over the authenticated classical channel; B xors it with ``K_B`` and
obtains ``K_A``. The published string is one-time-pad encrypted with ``K_B``, so it tells an eavesdropper
nothing, but the satellite itself learns the key: it is a trusted node (Bedington, Arrazola, Ling, npj Quantum
Inf. 3, 30 (2017), Sec. "Trusted-node"; Liao et al., PRL 120, 030501 (2018) for Micius between Xinglong and
Graz). The satellite must store ``K_A`` from the end of pass A until the end of pass B; the relayed key is
available at both ends only then.

The keys are the KeyBlocks each pass's link delivered (:class:`openqci.keysource.KeyBlock`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from openqci.keysource import KeyBlock
from openqci.space.errors import RelayError
from openqci.space.passes import Pass

__all__ = ["RelayOutcome", "recover_relayed_key", "relay_key", "xor_keys"]


@dataclass(frozen=True)
class RelayOutcome:
    """The result of relaying one key through a satellite, with what it cost the satellite.

    Attributes
    ----------
    published
        ``K_A xor K_B`` (packed, ``size_bits`` long): what goes over the public channel.
    size_bits
        Length of the relayed key: the shorter of the two pass keys.
    key_at_a
        The relayed key as station A holds it (``K_A`` cut to ``size_bits``).
    storage_bits
        Key the satellite holds at the peak: ``K_A`` kept until pass B plus ``K_B``.
    storage_duration_s
        How long the satellite holds ``K_A``: from the end of pass A to the end of pass B.
    available_at
        When both stations hold the relayed key (end of pass B).
    """

    published: bytes
    size_bits: int
    key_at_a: bytes
    storage_bits: int
    storage_duration_s: float
    available_at: datetime


def xor_keys(first: bytes, second: bytes, size_bits: int) -> bytes:
    """Bitwise XOR of the first ``size_bits`` bits of two packed keys; padding bits of the last byte are 0."""
    length = (size_bits + 7) // 8
    if len(first) < length or len(second) < length:
        raise RelayError(f"keys of {len(first)} and {len(second)} bytes cannot give {size_bits} bits")
    mixed = np.frombuffer(first[:length], np.uint8) ^ np.frombuffer(second[:length], np.uint8)
    return _truncate(mixed.tobytes(), size_bits)


def relay_key(key_a: KeyBlock, pass_a: Pass, key_b: KeyBlock, pass_b: Pass) -> RelayOutcome:
    """Relay ``key_a`` (shared with A on ``pass_a``) to B through ``key_b`` (shared with B on ``pass_b``).

    Raises
    ------
    RelayError
        If the passes belong to different satellites, pass B ends before pass A, or either key is empty.
    """
    if pass_a.satellite != pass_b.satellite:
        raise RelayError(f"a relay needs one satellite, got {pass_a.satellite!r} and {pass_b.satellite!r}")
    if pass_b.end < pass_a.end:
        raise RelayError(
            "pass B must end after pass A: the satellite cannot publish a key it does not yet hold"
        )
    size_bits = min(key_a.size_bits, key_b.size_bits)
    if size_bits <= 0:
        raise RelayError("both passes must have produced key to relay one")
    return RelayOutcome(
        published=xor_keys(key_a.bits, key_b.bits, size_bits),
        size_bits=size_bits,
        key_at_a=_truncate(key_a.bits, size_bits),
        storage_bits=key_a.size_bits + key_b.size_bits,
        storage_duration_s=(pass_b.end - pass_a.end).total_seconds(),
        available_at=pass_b.end,
    )


def recover_relayed_key(outcome: RelayOutcome, key_b: KeyBlock) -> bytes:
    """Station B's side: the relayed key from the published string and B's own pass key."""
    return xor_keys(outcome.published, key_b.bits, outcome.size_bits)


def _truncate(packed: bytes, size_bits: int) -> bytes:
    """The first ``size_bits`` bits of a packed key, padding bits of the last byte cleared."""
    data = bytearray(packed[: (size_bits + 7) // 8])
    if size_bits % 8:
        data[-1] &= (0xFF << (8 - size_bits % 8)) & 0xFF
    return bytes(data)
