"""Hybrid keys between two SAEs: honest ends agree, and every input the key binds changes it."""

from __future__ import annotations

import dataclasses
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openqci.services import (
    PARAMETER_SETS,
    HybridHello,
    HybridInitiator,
    HybridInputError,
    HybridReply,
    HybridUnsupportedError,
    ParameterSet,
    QkdKey,
    derive_hybrid_key,
    parameter_set,
    respond,
)
from openqci.services.hybrid_kdf import Combiner, Kdf, Kem, cas_kdf, cat_kdf, kdf
from openqci.services.hybrid_primitives import ecdh_public_length, kem_sizes

SUPPORTED = [p for p in PARAMETER_SETS.values() if p.unsupported is None]
MAIN = "CatKDF/HKDF-SHA256/X25519/ML-KEM-768"


def _qkd(key: bytes = bytes(range(32)), key_id: uuid.UUID | None = None) -> QkdKey:
    return QkdKey(key_id or uuid.UUID(int=7), key)


def test_the_standard_sets_are_72_and_36_run_here() -> None:
    assert len(PARAMETER_SETS) == 72
    assert len(SUPPORTED) == 36
    assert all(p.kdf not in (Kdf.KMAC128, Kdf.KMAC256) and p.kem is not Kem.ML_KEM_512 for p in SUPPORTED)


@pytest.mark.parametrize("params", SUPPORTED, ids=lambda p: p.cid)
def test_both_ends_derive_the_same_key(params: ParameterSet) -> None:
    initiator = HybridInitiator(params, _qkd(), length=24, context=b"app")
    reply, responder_key = respond(HybridHello.from_bytes(initiator.hello.to_bytes()), _qkd(), context=b"app")
    initiator_key = initiator.finish(HybridReply.from_bytes(reply.to_bytes()))
    assert initiator_key == responder_key
    assert len(initiator_key.key) == 24
    record = initiator_key.record
    assert (record.key_id, record.kdf, record.parameter_set, record.cid, record.qkd, record.length) == (
        uuid.UUID(int=7),
        params.combiner,
        params.name,
        params.cid,
        True,
        24,
    )
    assert initiator_key.key.hex() not in repr(initiator_key)


def test_without_qkd_both_ends_agree_and_say_so() -> None:
    initiator = HybridInitiator(MAIN, None)
    assert initiator.hello.key_id is None
    reply, responder_key = respond(initiator.hello, None)
    initiator_key = initiator.finish(reply)
    assert initiator_key == responder_key
    assert (initiator_key.record.qkd, initiator_key.record.key_id) == (False, None)


@pytest.mark.parametrize("combiner", ["CatKDF", "CasKDF"])
def test_dropping_the_qkd_key_changes_the_key(combiner: str) -> None:
    hello = HybridInitiator(f"{combiner}/HKDF-SHA256/X25519/ML-KEM-768", _qkd()).hello
    reply, _ = respond(hello, _qkd())
    secrets = {"k1": b"\x01" * 32, "k2": b"\x02" * 32}
    with_qkd = derive_hybrid_key(qkd_key=_qkd().key, hello=hello, reply=reply, **secrets)
    without_key = derive_hybrid_key(
        qkd_key=b"", hello=dataclasses.replace(hello, key_id=None), reply=reply, **secrets
    )
    assert with_qkd != without_key
    with pytest.raises(HybridInputError, match="QKD key was given without its key_ID"):
        derive_hybrid_key(
            qkd_key=_qkd().key, hello=dataclasses.replace(hello, key_id=None), reply=reply, **secrets
        )


def test_the_responder_must_hold_the_key_the_hello_names() -> None:
    initiator = HybridInitiator(MAIN, _qkd())
    with pytest.raises(HybridInputError, match=r"names QKD key .* but none was given: get it with dec_keys"):
        respond(initiator.hello, None)
    with pytest.raises(HybridInputError, match="but 00000000-0000-0000-0000-000000000009 was given"):
        respond(initiator.hello, _qkd(key_id=uuid.UUID(int=9)))
    without = HybridInitiator(MAIN, None)
    with pytest.raises(HybridInputError, match="names no QKD key"):
        respond(without.hello, _qkd())


def test_bad_inputs_name_what_to_fix() -> None:
    with pytest.raises(HybridInputError, match="unknown parameter set 'CatKDF/nope'"):
        HybridInitiator("CatKDF/nope", _qkd())
    with pytest.raises(HybridUnsupportedError, match="no KMAC"):
        HybridInitiator("CatKDF/KMAC128/X25519/ML-KEM-768", _qkd())
    with pytest.raises(HybridUnsupportedError, match="ML-KEM-512"):
        HybridInitiator("1711", _qkd())
    with pytest.raises(HybridInputError, match="key length must be 16 to 64 bytes, got 8"):
        HybridInitiator(MAIN, _qkd(), length=8)
    with pytest.raises(HybridInputError, match="has 8 bytes: ask the KME for at least 128 bits"):
        HybridInitiator(MAIN, _qkd(b"12345678"))
    with pytest.raises(HybridInputError, match="k1 \\(the ECDH shared secret\\) is empty"):
        cat_kdf(Kdf.HKDF_SHA256, psk=b"", k1=b"", k2=b"x", ma=b"", mb=b"", info=b"", label=b"", length=16)
    with pytest.raises(HybridInputError, match="must be 1 to 8160 bytes for HKDF-SHA256, got 9000"):
        kdf(Kdf.HKDF_SHA256, b"secret", b"", b"", 9000)
    with pytest.raises(HybridInputError, match="at least one round"):
        cas_kdf(Kdf.HMAC_SHA256, psk=b"", rounds=[], length=16)


def test_malformed_messages_are_refused_by_name() -> None:
    initiator = HybridInitiator(MAIN, _qkd())
    data = initiator.hello.to_bytes()
    with pytest.raises(HybridInputError, match="hello message is truncated"):
        HybridHello.from_bytes(data[:-5])
    with pytest.raises(HybridInputError, match="not a hello message"):
        HybridHello.from_bytes(HybridReply("1721", (), b"", b"").to_bytes())
    with pytest.raises(HybridInputError, match="ECDH public value must be 32 bytes for X25519, got 31"):
        respond(dataclasses.replace(initiator.hello, ecdh_public=b"\x09" * 31), _qkd())
    with pytest.raises(HybridInputError, match="ML-KEM-768 encapsulation key must be 1184 bytes"):
        respond(dataclasses.replace(initiator.hello, kem_public=b"\x00" * 10), _qkd())
    with pytest.raises(HybridInputError, match="1 label contribution\\(s\\) of 32 bytes"):
        respond(dataclasses.replace(initiator.hello, labels=(b"x",)), _qkd())
    reply, _ = respond(initiator.hello, _qkd())
    with pytest.raises(HybridInputError, match="ciphertext must be 1088 bytes, got 1087"):
        initiator.finish(dataclasses.replace(reply, kem_ciphertext=reply.kem_ciphertext[:-1]))
    with pytest.raises(HybridInputError, match="reply is for parameter set '1722', the hello chose 1721"):
        initiator.finish(dataclasses.replace(reply, cid="1722"))
    initiator.finish(reply)
    with pytest.raises(HybridInputError, match="this exchange has finished"):
        initiator.finish(reply)


# --- properties -----------------------------------------------------------------------------------------

FAST_SETS = [parameter_set(name) for name in (MAIN, "CasKDF/HMAC-SHA384/P-384/ML-KEM-1024", "1722", "4421")]


@dataclasses.dataclass(frozen=True)
class Case:
    """Well-formed inputs to the derivation; random bytes do, since the KDF sees only bytes."""

    qkd_key: bytes
    hello: HybridHello
    reply: HybridReply
    k1: bytes
    k2: bytes
    context: bytes

    def key(self) -> bytes:
        return derive_hybrid_key(
            qkd_key=self.qkd_key,
            hello=self.hello,
            reply=self.reply,
            k1=self.k1,
            k2=self.k2,
            context=self.context,
        )


@st.composite
def cases(draw: st.DrawFn) -> Case:
    params = draw(st.sampled_from(FAST_SETS))
    rounds = 1 if params.combiner is Combiner.CAT else 2
    size = params.kdf.hash().digest_size
    label = st.binary(min_size=size, max_size=size)
    point = ecdh_public_length(params.curve)
    ek, ct = kem_sizes(params.kem)
    hello = HybridHello(
        params.cid,
        draw(st.uuids()),
        draw(st.integers(16, 64)),
        tuple(draw(label) for _ in range(rounds)),
        draw(st.binary(min_size=point, max_size=point)),
        draw(st.binary(min_size=ek, max_size=ek)),
    )
    reply = HybridReply(
        params.cid,
        tuple(draw(label) for _ in range(rounds)),
        draw(st.binary(min_size=point, max_size=point)),
        draw(st.binary(min_size=ct, max_size=ct)),
    )
    return Case(
        draw(st.binary(min_size=16, max_size=64)),
        hello,
        reply,
        draw(st.binary(min_size=32, max_size=56)),
        draw(st.binary(min_size=32, max_size=32)),
        draw(st.binary(max_size=16)),
    )


def _flip(data: bytes, position: int, flip: int) -> bytes:
    at = position % len(data)
    return data[:at] + bytes([data[at] ^ flip]) + data[at + 1 :]


def _changed(case: Case, what: str, position: int, flip: int) -> Case:
    if what == "qkd_key":
        return dataclasses.replace(case, qkd_key=_flip(case.qkd_key, position, flip))
    if what == "key_id":
        assert case.hello.key_id is not None
        other = uuid.UUID(bytes=_flip(case.hello.key_id.bytes, position, flip))
        return dataclasses.replace(case, hello=dataclasses.replace(case.hello, key_id=other))
    if what == "ciphertext":
        forged = _flip(case.reply.kem_ciphertext, position, flip)
        return dataclasses.replace(case, reply=dataclasses.replace(case.reply, kem_ciphertext=forged))
    if what == "hello label":
        labels = list(case.hello.labels)
        labels[position % len(labels)] = _flip(labels[position % len(labels)], position // 7, flip)
        return dataclasses.replace(case, hello=dataclasses.replace(case.hello, labels=tuple(labels)))
    labels = list(case.reply.labels)
    labels[position % len(labels)] = _flip(labels[position % len(labels)], position // 7, flip)
    return dataclasses.replace(case, reply=dataclasses.replace(case.reply, labels=tuple(labels)))


@settings(max_examples=150, deadline=None)
@given(
    case=cases(),
    what=st.sampled_from(["qkd_key", "key_id", "ciphertext", "hello label", "reply label"]),
    position=st.integers(0, 10_000),
    flip=st.integers(1, 255),
)
def test_any_change_to_a_bound_input_changes_the_key(case: Case, what: str, position: int, flip: int) -> None:
    assert _changed(case, what, position, flip).key() != case.key()


@settings(max_examples=25, deadline=None)
@given(
    params=st.sampled_from(FAST_SETS),
    qkd=st.binary(min_size=16, max_size=64),
    key_id=st.uuids(),
    context=st.binary(max_size=16),
    position=st.integers(0, 10_000),
    flip=st.integers(1, 255),
)
def test_honest_ends_agree_and_a_wrong_qkd_key_or_ciphertext_does_not(
    params: ParameterSet, qkd: bytes, key_id: uuid.UUID, context: bytes, position: int, flip: int
) -> None:
    initiator = HybridInitiator(params, QkdKey(key_id, qkd), context=context)
    reply, responder_key = respond(initiator.hello, QkdKey(key_id, qkd), context=context)
    _, wrong_key = respond(initiator.hello, QkdKey(key_id, _flip(qkd, position, flip)), context=context)
    assert initiator.finish(reply) == responder_key
    assert wrong_key.key != responder_key.key

    second = HybridInitiator(params, QkdKey(key_id, qkd), context=context)
    reply, responder_key = respond(second.hello, QkdKey(key_id, qkd), context=context)
    forged = dataclasses.replace(reply, kem_ciphertext=_flip(reply.kem_ciphertext, position, flip))
    assert second.finish(forged).key != responder_key.key
