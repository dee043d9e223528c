"""Hybrid keys for two SAEs: a QKD key, an ML-KEM secret and an ECDH secret joined by ETSI TS 103 744.

The exchange follows the standard's two-message flow (initiator A, responder B):

1. The master SAE (A) takes a QKD key from its KME (``enc_keys``), makes ephemeral ECDH and ML-KEM key
   pairs and sends a :class:`HybridHello` (the standard's MA: the QKD key's key_ID, its public values and
   its label contributions).
2. The slave SAE (B) gets the same QKD key by key_ID (``dec_keys``), answers with its own ECDH public
   value and an ML-KEM ciphertext to A's encapsulation key (:class:`HybridReply`, the standard's MB) and
   derives the key.
3. A derives the same key from the reply.

The QKD key fills the standard's pre-shared-key slot: the front of CatKDF's secret, or CasKDF's first
chain secret. Its key_ID is bound into the KDF's ``info`` with the key length and the caller's context,
so both ends derive one key only from one QKD key, and an end that used no QKD key derives another.

When the KME has no key (:class:`SaeUnavailableError`) the :class:`QkdPolicy` decides: fail closed (the
default: :class:`HybridQkdUnavailableError`), or derive a post-quantum-only key, which logs a WARNING
alarm and is recorded with ``qkd=False`` so whatever consumes it can see what it got.
"""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Self

from openqci.services.hybrid_kdf import (
    CascadeRound,
    Combiner,
    HybridError,
    HybridInputError,
    ParameterSet,
    cas_kdf,
    cat_kdf,
    length_prefixed,
    parameter_set,
)
from openqci.services.hybrid_primitives import (
    EcdhKey,
    KemKey,
    ecdh_public_length,
    kem_encapsulate,
    kem_sizes,
)
from openqci.services.sae_client import QkdKey, SaeClient, SaeUnavailableError

__all__ = [
    "DOMAIN",
    "MAX_KEY_LENGTH",
    "MIN_KEY_LENGTH",
    "MIN_QKD_KEY_LENGTH",
    "HybridHello",
    "HybridInitiator",
    "HybridKey",
    "HybridQkdUnavailableError",
    "HybridRecord",
    "HybridReply",
    "QkdPolicy",
    "derive_hybrid_key",
    "respond",
    "respond_from_kme",
]

_log = logging.getLogger(__name__)

DOMAIN = b"OpenQCI hybrid key/ETSI TS 103 744 V1.2.1"
"""The first field of every ``info``: keys of this scheme never collide with another use of the KDF."""

MIN_KEY_LENGTH = 16
MAX_KEY_LENGTH = 64
MIN_QKD_KEY_LENGTH = 16
"""A QKD key of fewer than 128 bits would add less than the post-quantum part already gives."""

_HELLO_TAG = b"openqci-hybrid-hello/1"
_REPLY_TAG = b"openqci-hybrid-reply/1"


class HybridQkdUnavailableError(HybridError):
    """No QKD key could be had, and the policy (fail closed) forbids a key without one."""


class QkdPolicy(StrEnum):
    """What to do when the KME has no QKD key for the exchange."""

    FAIL_CLOSED = "fail-closed"
    """Derive nothing: raise :class:`HybridQkdUnavailableError`."""
    PQ_ONLY = "pq-only"
    """Derive from ML-KEM and ECDH alone, log a WARNING alarm and record ``qkd=False``."""


@dataclass(frozen=True)
class HybridRecord:
    """What went into a derived key, for audit and for consumers that must know whether QKD was used."""

    key_id: uuid.UUID | None
    kdf: Combiner
    parameter_set: str
    cid: str
    qkd: bool
    length: int


@dataclass(frozen=True)
class HybridKey:
    """A derived key (never shown in a repr) and its record."""

    key: bytes = field(repr=False)
    record: HybridRecord


def _pack(tag: bytes, *fields: bytes) -> bytes:
    return length_prefixed(tag, *fields)


def _unpack(data: bytes, tag: bytes, what: str) -> list[bytes]:
    fields, offset = [], 0
    while offset < len(data):
        if offset + 4 > len(data):
            raise HybridInputError(f"{what} message is truncated at byte {offset}")
        size = int.from_bytes(data[offset : offset + 4], "big")
        offset += 4
        if offset + size > len(data):
            raise HybridInputError(f"{what} message is truncated: a field of {size} bytes at byte {offset}")
        fields.append(data[offset : offset + size])
        offset += size
    if not fields or fields[0] != tag:
        raise HybridInputError(f"not a {what} message (expected the tag {tag.decode()!r})")
    return fields[1:]


def _rounds(params: ParameterSet) -> int:
    return 1 if params.combiner is Combiner.CAT else 2


def _check_labels(params: ParameterSet, labels: tuple[bytes, ...], what: str) -> None:
    count, size = _rounds(params), params.kdf.hash().digest_size
    if len(labels) != count or any(len(label) != size for label in labels):
        raise HybridInputError(
            f"{what} must carry {count} label contribution(s) of {size} bytes for {params.name}, "
            f"got {[len(label) for label in labels]}"
        )


@dataclass(frozen=True)
class HybridHello:
    """The initiator's message (the standard's MA): sent by the master SAE to the slave SAE."""

    cid: str
    key_id: uuid.UUID | None
    length: int
    labels: tuple[bytes, ...]
    ecdh_public: bytes
    kem_public: bytes

    def check(self) -> ParameterSet:
        """The parameter set, once every field fits it; a responder calls this before any work.

        Raises
        ------
        HybridInputError
            Naming the field that does not fit (or the unknown or unsupported set).
        """
        params = parameter_set(self.cid)
        params.require_supported()
        if not MIN_KEY_LENGTH <= self.length <= MAX_KEY_LENGTH:
            raise HybridInputError(
                f"hello asks for a {self.length}-byte key: use {MIN_KEY_LENGTH} to {MAX_KEY_LENGTH} bytes"
            )
        _check_labels(params, self.labels, "hello")
        if len(self.ecdh_public) != ecdh_public_length(params.curve):
            raise HybridInputError(
                f"hello's ECDH public value must be {ecdh_public_length(params.curve)} bytes for "
                f"{params.curve.value}, got {len(self.ecdh_public)}"
            )
        if len(self.kem_public) != kem_sizes(params.kem)[0]:
            raise HybridInputError(
                f"hello's {params.kem.value} encapsulation key must be {kem_sizes(params.kem)[0]} bytes, "
                f"got {len(self.kem_public)}"
            )
        return params

    def to_bytes(self) -> bytes:
        """The message as length-prefixed fields, for any transport."""
        key_id = self.key_id.bytes if self.key_id is not None else b""
        return _pack(
            _HELLO_TAG,
            self.cid.encode(),
            key_id,
            self.length.to_bytes(2, "big"),
            self.ecdh_public,
            self.kem_public,
            *self.labels,
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        """Parse and check a hello.

        Raises
        ------
        HybridInputError
            If the bytes are not a well-formed hello for a supported parameter set.
        """
        fields = _unpack(data, _HELLO_TAG, "hello")
        if len(fields) < 6:
            raise HybridInputError(f"hello message has {len(fields)} fields, expected at least 6")
        cid, key_id, length, ecdh_public, kem_public, *labels = fields
        if len(key_id) not in (0, 16) or len(length) != 2:
            raise HybridInputError("hello message: the key_ID must be 16 bytes or empty, the length 2 bytes")
        hello = cls(
            cid.decode(errors="replace"),
            uuid.UUID(bytes=key_id) if key_id else None,
            int.from_bytes(length, "big"),
            tuple(labels),
            ecdh_public,
            kem_public,
        )
        hello.check()
        return hello


@dataclass(frozen=True)
class HybridReply:
    """The responder's message (the standard's MB): sent by the slave SAE back to the master SAE."""

    cid: str
    labels: tuple[bytes, ...]
    ecdh_public: bytes
    kem_ciphertext: bytes

    def check(self, params: ParameterSet) -> None:
        """Check every field against the parameter set the hello chose.

        Raises
        ------
        HybridInputError
            Naming the field that does not fit.
        """
        if self.cid != params.cid:
            raise HybridInputError(f"reply is for parameter set {self.cid!r}, the hello chose {params.cid}")
        _check_labels(params, self.labels, "reply")
        if len(self.ecdh_public) != ecdh_public_length(params.curve):
            raise HybridInputError(
                f"reply's ECDH public value must be {ecdh_public_length(params.curve)} bytes for "
                f"{params.curve.value}, got {len(self.ecdh_public)}"
            )
        if len(self.kem_ciphertext) != kem_sizes(params.kem)[1]:
            raise HybridInputError(
                f"reply's {params.kem.value} ciphertext must be {kem_sizes(params.kem)[1]} bytes, "
                f"got {len(self.kem_ciphertext)}"
            )

    def to_bytes(self) -> bytes:
        """The message as length-prefixed fields, for any transport."""
        return _pack(_REPLY_TAG, self.cid.encode(), self.ecdh_public, self.kem_ciphertext, *self.labels)

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        """Parse a reply; :meth:`HybridInitiator.finish` checks it against the hello.

        Raises
        ------
        HybridInputError
            If the bytes are not a well-formed reply.
        """
        fields = _unpack(data, _REPLY_TAG, "reply")
        if len(fields) < 4:
            raise HybridInputError(f"reply message has {len(fields)} fields, expected at least 4")
        cid, ecdh_public, ciphertext, *labels = fields
        return cls(cid.decode(errors="replace"), tuple(labels), ecdh_public, ciphertext)


def _check_qkd(qkd_key: bytes, key_id: uuid.UUID | None) -> None:
    if key_id is None:
        if qkd_key:
            raise HybridInputError("a QKD key was given without its key_ID: both are needed, or neither")
        return
    if len(qkd_key) < MIN_QKD_KEY_LENGTH:
        raise HybridInputError(
            f"QKD key {key_id} has {len(qkd_key)} bytes: ask the KME for at least "
            f"{MIN_QKD_KEY_LENGTH * 8} bits (enc_keys size)"
        )


def derive_hybrid_key(
    *,
    qkd_key: bytes,
    hello: HybridHello,
    reply: HybridReply,
    k1: bytes,
    k2: bytes,
    context: bytes = b"",
) -> bytes:
    """The key both ends derive from one transcript: the one place that lays out the standard's inputs.

    ``k1`` is the ECDH and ``k2`` the ML-KEM shared secret; ``qkd_key`` (empty for a post-quantum-only key)
    fills the pre-shared-key slot, and the hello's key_ID names it. ``info`` is ``DOMAIN``, the key_ID
    (empty without QKD), the key length
    and ``context``, each length-prefixed. The messages follow the layout of the reference vectors with
    byte counts: CatKDF's ``MA = cid || LA || PA1 || PA2`` and ``MB = cid || LB || PB1 || PB2``; CasKDF's
    round 1 carries the ECDH values and round 2 the ML-KEM ones. Each label is ``LA xor LB``.

    Raises
    ------
    HybridInputError
        If a message does not fit its parameter set, or the QKD key and key_ID do not go together.
    """
    params = hello.check()
    reply.check(params)
    key_id = hello.key_id
    _check_qkd(qkd_key, key_id)
    cid = bytes.fromhex(params.cid)
    info = length_prefixed(
        DOMAIN, key_id.bytes if key_id is not None else b"", hello.length.to_bytes(4, "big"), context
    )
    labels = [
        bytes(a ^ b for a, b in zip(la, lb, strict=True))
        for la, lb in zip(hello.labels, reply.labels, strict=True)
    ]
    kind = params.kdf
    if params.combiner is Combiner.CAT:
        ma = cid + length_prefixed(hello.labels[0], hello.ecdh_public, hello.kem_public)
        mb = cid + length_prefixed(reply.labels[0], reply.ecdh_public, reply.kem_ciphertext)
        return cat_kdf(
            kind, psk=qkd_key, k1=k1, k2=k2, ma=ma, mb=mb, info=info, label=labels[0], length=hello.length
        )
    rounds = [
        CascadeRound(
            k1,
            cid + length_prefixed(hello.labels[0], hello.ecdh_public),
            cid + length_prefixed(reply.labels[0], reply.ecdh_public),
            info,
            labels[0],
        ),
        CascadeRound(
            k2,
            cid + length_prefixed(hello.labels[1], hello.kem_public),
            cid + length_prefixed(reply.labels[1], reply.kem_ciphertext),
            info,
            labels[1],
        ),
    ]
    return cas_kdf(kind, psk=qkd_key, rounds=rounds, length=hello.length)


def _record(params: ParameterSet, key_id: uuid.UUID | None, length: int) -> HybridRecord:
    return HybridRecord(key_id, params.combiner, params.name, params.cid, key_id is not None, length)


def _alarm(role: str, reason: str) -> None:
    _log.warning(
        "ALARM hybrid key without QKD (%s): %s; deriving a post-quantum-only key (qkd=False)", role, reason
    )


def _fresh_labels(params: ParameterSet) -> tuple[bytes, ...]:
    size = params.kdf.hash().digest_size
    return tuple(os.urandom(size) for _ in range(_rounds(params)))


class HybridInitiator:
    """The master SAE's side: one hello, then one key from the reply.

    Parameters
    ----------
    params
        A parameter set, its name or its identifier (``PARAMETER_SETS``).
    qkd_key
        The QKD key from ``enc_keys``, or None for a post-quantum-only key (see :meth:`from_kme`).
    length
        Bytes of key to derive (16 to 64); the hello carries it so both ends agree.
    context
        Bytes both applications bind into the key (a session or purpose name); the responder must pass
        the same.
    """

    def __init__(
        self,
        params: str | ParameterSet,
        qkd_key: QkdKey | None,
        *,
        length: int = 32,
        context: bytes = b"",
    ) -> None:
        chosen = parameter_set(params)
        chosen.require_supported()
        if not MIN_KEY_LENGTH <= length <= MAX_KEY_LENGTH:
            raise HybridInputError(
                f"key length must be {MIN_KEY_LENGTH} to {MAX_KEY_LENGTH} bytes, got {length}"
            )
        key_id = qkd_key.key_id if qkd_key is not None else None
        self._qkd = qkd_key.key if qkd_key is not None else b""
        _check_qkd(self._qkd, key_id)
        self._params = chosen
        self._context = context
        self._ecdh: EcdhKey | None = EcdhKey.generate(chosen.curve)
        self._kem: KemKey | None = KemKey.generate(chosen.kem)
        self.hello = HybridHello(
            chosen.cid, key_id, length, _fresh_labels(chosen), self._ecdh.public, self._kem.public
        )

    @classmethod
    def from_kme(
        cls,
        client: SaeClient,
        slave_sae_id: str,
        params: str | ParameterSet,
        *,
        policy: QkdPolicy = QkdPolicy.FAIL_CLOSED,
        size_bits: int | None = None,
        length: int = 32,
        context: bytes = b"",
    ) -> Self:
        """Take one QKD key shared with ``slave_sae_id`` from the KME and start an exchange with it.

        The parameter set is checked first, so no QKD key is spent on a set that cannot finish.

        Raises
        ------
        HybridQkdUnavailableError
            If the KME has no key (503) and ``policy`` is fail closed.
        HybridInputError
            For an unknown or unsupported parameter set, or a key shorter than 128 bits.
        SaeClientError
            For any other refusal by the KME (bad request, unauthorised).
        """
        chosen = parameter_set(params)
        chosen.require_supported()
        try:
            container = client.enc_keys(slave_sae_id, number=1, size_bits=size_bits)
        except SaeUnavailableError as error:
            if policy is QkdPolicy.FAIL_CLOSED:
                raise HybridQkdUnavailableError(
                    f"no QKD key for a hybrid key with {slave_sae_id} ({error}); the fail-closed policy "
                    "derives no key without one (policy pq-only would derive a post-quantum-only key)"
                ) from error
            _alarm("initiator", f"no QKD key for {slave_sae_id} from {client.kme_url}: {error}")
            return cls(chosen, None, length=length, context=context)
        if not container.keys:
            raise HybridError(f"the KME at {client.kme_url} answered enc_keys with no key")
        return cls(chosen, container.keys[0], length=length, context=context)

    def finish(self, reply: HybridReply) -> HybridKey:
        """Derive the key from the responder's reply; the ephemeral private keys are dropped after it.

        Raises
        ------
        HybridInputError
            If the reply does not fit the hello, or this initiator has already finished.
        """
        if self._ecdh is None or self._kem is None:
            raise HybridInputError("this exchange has finished: start a new HybridInitiator for each key")
        reply.check(self._params)
        k1 = self._ecdh.exchange(reply.ecdh_public)
        k2 = self._kem.decapsulate(reply.kem_ciphertext)
        self._ecdh = self._kem = None
        key = derive_hybrid_key(
            qkd_key=self._qkd,
            hello=self.hello,
            reply=reply,
            k1=k1,
            k2=k2,
            context=self._context,
        )
        self._qkd = b""
        return HybridKey(key, _record(self._params, self.hello.key_id, self.hello.length))


def respond(
    hello: HybridHello, qkd_key: QkdKey | None, *, context: bytes = b""
) -> tuple[HybridReply, HybridKey]:
    """The slave SAE's side: answer a hello and derive the key, given the QKD key the hello names.

    Raises
    ------
    HybridInputError
        If the hello is malformed, or ``qkd_key`` is not the key the hello names (or is missing).
    """
    params = hello.check()
    if hello.key_id is None and qkd_key is not None:
        raise HybridInputError(
            f"the hello names no QKD key but QKD key {qkd_key.key_id} was given: the initiator derived "
            "without QKD, so pass qkd_key=None (or refuse the exchange)"
        )
    if hello.key_id is not None and (qkd_key is None or qkd_key.key_id != hello.key_id):
        given = "none" if qkd_key is None else str(qkd_key.key_id)
        raise HybridInputError(
            f"the hello names QKD key {hello.key_id} but {given} was given: get it with dec_keys"
        )
    ecdh = EcdhKey.generate(params.curve)
    k1 = ecdh.exchange(hello.ecdh_public)
    k2, ciphertext = kem_encapsulate(params.kem, hello.kem_public)
    reply = HybridReply(params.cid, _fresh_labels(params), ecdh.public, ciphertext)
    key = derive_hybrid_key(
        qkd_key=qkd_key.key if qkd_key is not None else b"",
        hello=hello,
        reply=reply,
        k1=k1,
        k2=k2,
        context=context,
    )
    return reply, HybridKey(key, _record(params, hello.key_id, hello.length))


def respond_from_kme(
    client: SaeClient,
    master_sae_id: str,
    hello: HybridHello,
    *,
    policy: QkdPolicy = QkdPolicy.FAIL_CLOSED,
    context: bytes = b"",
) -> tuple[HybridReply, HybridKey]:
    """Answer a hello with the QKD key it names, taken from this SAE's KME by key_ID (``dec_keys``).

    A hello without a key_ID means the master's KME had no key: fail closed refuses it; post-quantum only
    accepts it with an alarm. A key_ID this KME cannot serve is an error under either policy, since the
    master used that key and no other key could match.

    Raises
    ------
    HybridQkdUnavailableError
        If the hello names no QKD key and ``policy`` is fail closed, or the KME cannot serve the key now.
    HybridInputError
        If the hello is malformed.
    SaeClientError
        For any other refusal by the KME (an unknown key_ID is a 400).
    """
    params = hello.check()
    if hello.key_id is None:
        if policy is QkdPolicy.FAIL_CLOSED:
            raise HybridQkdUnavailableError(
                f"{master_sae_id} sent a hybrid hello without a QKD key; the fail-closed policy refuses it "
                "(policy pq-only would accept a post-quantum-only key)"
            )
        _alarm("responder", f"{master_sae_id} sent a hello without a QKD key ({params.name})")
        return respond(hello, None, context=context)
    try:
        container = client.dec_keys(master_sae_id, [hello.key_id])
    except SaeUnavailableError as error:
        raise HybridQkdUnavailableError(
            f"cannot get QKD key {hello.key_id} from {client.kme_url} ({error}); the master derived with it, "
            "so no matching key can be made without it"
        ) from error
    found = [key for key in container.keys if key.key_id == hello.key_id]
    if not found:
        raise HybridError(f"the KME at {client.kme_url} did not return QKD key {hello.key_id}")
    return respond(hello, found[0], context=context)
