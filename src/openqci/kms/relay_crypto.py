"""One hop of a key relay: one-time-pad encryption with link key and a one-time authentication tag.

Over each hop the relayed keys travel as ``K xor L``, where ``L`` is fresh link key that both ends of the
hop hold (the same units, cut from the same KeyBlocks) and consume for this message only: Vernam's
one-time pad, secure whatever the adversary's computing power.

The hop message is authenticated with Poly1305 (RFC 8439 clause 2.5) keyed by 256 more bits of fresh link
key, used once. Poly1305 with a one-time key is a Wegman-Carter authenticator: a polynomial hash modulo
``2**130 - 5`` keyed by ``r``, masked with the one-time pad ``s``. Its forgery bound holds against an
unbounded adversary (at most ``8 * ceil(L / 16) / 2**106`` per forgery attempt for an ``L``-byte message),
so the tag is as strong as the pad. HMAC-SHA256 keyed from link key would also do in practice, but its
security rests on the hash function; spending 256 bits of link key per hop buys a tag that does not.
The tag covers the whole message (identifiers, route, unit IDs and ciphertext) in a canonical encoding,
so a node cannot be made to store, forward or attribute a key differently from what the sender meant.

References
----------
G. S. Vernam, J. AIEE 45 (1926) 109. M. N. Wegman and J. L. Carter, J. Comput. Syst. Sci. 22 (1981) 265.
D. J. Bernstein, "The Poly1305-AES message-authentication code", FSE 2005. ITU-T Y.3803 (key relay).
"""

from __future__ import annotations

from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.poly1305 import Poly1305

__all__ = ["MAC_KEY_BITS", "TAG_BYTES", "canonical", "one_time_pad", "tag", "verify"]

MAC_KEY_BITS = 256
"""Link key consumed per hop message for its Poly1305 key (``r`` and ``s``, 128 bits each)."""

TAG_BYTES = 16


def one_time_pad(data: bytes, pad: bytes) -> bytes:
    """Return ``data xor pad``; the pad must be at least as long as the data and is used once.

    Examples
    --------
    >>> one_time_pad(one_time_pad(b"key", b"\\x01\\x02\\x03"), b"\\x01\\x02\\x03")
    b'key'
    """
    if len(pad) < len(data):
        raise ValueError(f"a one-time pad of {len(pad)} bytes cannot cover {len(data)} bytes")
    return (int.from_bytes(data, "big") ^ int.from_bytes(pad[: len(data)], "big")).to_bytes(len(data), "big")


def canonical(fields: dict[str, Any]) -> bytes:
    """The bytes a tag covers: the message's fields as JSON with sorted keys and no spaces."""
    return orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)


def tag(mac_key: bytes, message: bytes) -> bytes:
    """The Poly1305 tag of ``message`` under a one-time 32-byte ``mac_key``."""
    return Poly1305.generate_tag(_key(mac_key), message)


def verify(mac_key: bytes, message: bytes, given: bytes) -> bool:
    """Whether ``given`` is the tag of ``message`` under ``mac_key`` (Poly1305 compares in constant time)."""
    if len(given) != TAG_BYTES:
        return False
    try:
        Poly1305.verify_tag(_key(mac_key), message, given)
    except InvalidSignature:
        return False
    return True


def _key(mac_key: bytes) -> bytes:
    if len(mac_key) < MAC_KEY_BITS // 8:
        raise ValueError(f"a Poly1305 key needs {MAC_KEY_BITS // 8} bytes, got {len(mac_key)}")
    return mac_key[: MAC_KEY_BITS // 8]
