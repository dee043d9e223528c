"""Known answers for the ETSI TS 103 744 combiners: the reference implementation's and the project's own.

``data/ts103744_reference_vectors.json`` holds the 72 vectors published with the reference implementation
(etsi-forge/cyber.103744_QHKEX, main.c, commit 41caf04; its ``source`` field says exactly where). They run
with an empty pre-shared-key slot. Coverage:

* HKDF-SHA256/384 and HMAC-SHA256/384, CatKDF and CasKDF (48 vectors): every one passes from the published
  shared secrets and public values, whatever its curve or ML-KEM level.
* The 36 of those 48 built on ML-KEM-768 or ML-KEM-1024 also pass from the published private keys: the
  ECDH private key of A and public key of B give the public values and k1, the ML-KEM seed of A gives the
  encapsulation key, and decapsulating the published ciphertext gives k2, all through this module's
  primitives. The encapsulation side itself cannot be replayed: ``cryptography`` takes no encapsulation
  coins.

Not covered, and checked to be refused loudly rather than skipped:

* the 24 KMAC128/KMAC256 vectors (identifiers 7xxx, 8xxx): ``cryptography`` 50 has no KMAC (nor cSHAKE);
* the ML-KEM step of the 12 ML-KEM-512 vectors (identifiers xx1x): ``cryptography`` 50 has no ML-KEM-512.
  Their KDF (above) and ECDH steps do pass.

``data/hybrid_qkd_vectors.json`` holds the project's own vectors, with a QKD key in the pre-shared-key slot
and its key_ID in the context, made once by ``tests/services/make_hybrid_vectors.py``; the last test here
recomputes them.
"""

from __future__ import annotations

import json
import struct
import uuid
from pathlib import Path
from typing import Any

import pytest

from openqci.services.hybrid import HybridHello, HybridReply, derive_hybrid_key
from openqci.services.hybrid_kdf import (
    PARAMETER_SETS,
    CascadeRound,
    Combiner,
    Curve,
    HybridUnsupportedError,
    Kdf,
    Kem,
    cas_kdf,
    cat_kdf,
    parameter_set,
)
from openqci.services.hybrid_primitives import EcdhKey, KemKey

DATA = Path(__file__).parent / "data"
REFERENCE = json.loads((DATA / "ts103744_reference_vectors.json").read_text())
OWN = json.loads((DATA / "hybrid_qkd_vectors.json").read_text())

# The reference's own words for each part of an identifier, mapped to this module's names.
KDF_NAMES = {
    "HKDFwSHA256": Kdf.HKDF_SHA256,
    "HKDFwSHA384": Kdf.HKDF_SHA384,
    "HMACwSHA256": Kdf.HMAC_SHA256,
    "HMACwSHA384": Kdf.HMAC_SHA384,
    "KMAC128": Kdf.KMAC128,
    "KMAC256": Kdf.KMAC256,
}
CURVE_NAMES = {
    "P256": Curve.P256,
    "P384": Curve.P384,
    "BP-P256": Curve.BRAINPOOL_P256,
    "BP-P384": Curve.BRAINPOOL_P384,
    "Curve25519": Curve.X25519,
    "Curve448": Curve.X448,
}
KEM_NAMES = {"MLKEM512": Kem.ML_KEM_512, "MLKEM768": Kem.ML_KEM_768, "MLKEM1024": Kem.ML_KEM_1024}

RUNNABLE = [v for v in REFERENCE["vectors"] if not v["kdf"].startswith("KMAC")]
KMAC = [v for v in REFERENCE["vectors"] if v["kdf"].startswith("KMAC")]
WITH_KEM = [v for v in RUNNABLE if v["kem"] != "MLKEM512"]
ML_KEM_512 = [v for v in RUNNABLE if v["kem"] == "MLKEM512"]
INFO = REFERENCE["info"].encode()


def _h(text: str) -> bytes:
    return bytes.fromhex(text)


def _test_message(cid: str, *hex_fields: str) -> bytes:
    """The reference's test-only message: cid, then each field after a count of its hex digits."""
    return _h(cid) + b"".join(struct.pack(">I", len(item)) + _h(item) for item in hex_fields)


def _xor(a: str, b: str) -> bytes:
    return bytes(x ^ y for x, y in zip(_h(a), _h(b), strict=True))


def _reference_key(vector: dict[str, Any], pa1: str, pa2: str, k1: bytes, k2: bytes) -> bytes:
    params = parameter_set(vector["cid"])
    given = REFERENCE["inputs"][vector["input"]]
    cid, length = vector["cid"], given["key_length"]
    if params.combiner is Combiner.CAT:
        return cat_kdf(
            params.kdf,
            psk=b"",
            k1=k1,
            k2=k2,
            ma=_test_message(cid, given["LA1"], pa1, pa2),
            mb=_test_message(cid, given["LB1"], given["PB1"], given["PB2"]),
            info=INFO,
            label=_xor(given["LA1"], given["LB1"]),
            length=length,
        )
    rounds = [
        CascadeRound(
            k1,
            _test_message(cid, given["LA1"], pa1),
            _test_message(cid, given["LB1"], given["PB1"]),
            INFO,
            _xor(given["LA1"], given["LB1"]),
        ),
        CascadeRound(
            k2,
            _test_message(cid, given["LA2"], pa2),
            _test_message(cid, given["LB2"], given["PB2"]),
            INFO,
            _xor(given["LA2"], given["LB2"]),
        ),
    ]
    return cas_kdf(params.kdf, psk=b"", rounds=rounds, length=length)


def test_the_vectors_are_all_there() -> None:
    assert len(REFERENCE["vectors"]) == 72
    assert (len(RUNNABLE), len(WITH_KEM), len(ML_KEM_512), len(KMAC)) == (48, 36, 12, 24)


def test_identifiers_match_the_reference_descriptions() -> None:
    assert {v["cid"] for v in REFERENCE["vectors"]} == {p.cid for p in PARAMETER_SETS.values()}
    for vector in REFERENCE["vectors"]:
        params = parameter_set(vector["cid"])
        assert params.kdf is KDF_NAMES[vector["kdf"]]
        assert params.curve is CURVE_NAMES[vector["curve"]]
        assert params.kem is KEM_NAMES[vector["kem"]]
        assert params.combiner.value == vector["combiner"]
        assert parameter_set(params.name) is params


@pytest.mark.parametrize("vector", RUNNABLE, ids=lambda v: v["cid"])
def test_reference_vector_from_shared_secrets(vector: dict[str, Any]) -> None:
    given = REFERENCE["inputs"][vector["input"]]
    key = _reference_key(vector, given["PA1"], given["PA2"], _h(given["k1"]), _h(given["k2"]))
    assert key.hex().upper() == vector["key_material"]


@pytest.mark.parametrize("vector", WITH_KEM, ids=lambda v: v["cid"])
def test_reference_vector_from_private_keys(vector: dict[str, Any]) -> None:
    params = parameter_set(vector["cid"])
    given = REFERENCE["inputs"][vector["input"]]
    ecdh = EcdhKey.from_private_bytes(params.curve, _h(given["ecdh_private_A"]))
    kem = KemKey.from_seed(params.kem, _h(given["mlkem_seed_A"]))
    assert ecdh.public.hex().upper() == given["PA1"]
    assert kem.public.hex().upper() == given["PA2"]
    k1 = ecdh.exchange(_h(given["PB1"]))
    k2 = kem.decapsulate(_h(given["PB2"]))
    assert (k1.hex().upper(), k2.hex().upper()) == (given["k1"], given["k2"])
    key = _reference_key(vector, ecdh.public.hex().upper(), kem.public.hex().upper(), k1, k2)
    assert key.hex().upper() == vector["key_material"]


@pytest.mark.parametrize("vector", RUNNABLE[:12], ids=lambda v: v["cid"])
def test_reference_public_values_are_sec1_points_without_their_prefix(vector: dict[str, Any]) -> None:
    # B's ECDH public key is published as a SEC1 point; the messages carry it as PB1, in this module's form.
    given = REFERENCE["inputs"][vector["input"]]
    sec1 = given["ecdh_public_B_sec1"]
    montgomery = parameter_set(vector["cid"]).curve in (Curve.X25519, Curve.X448)
    assert given["PB1"] == (sec1 if montgomery else sec1.removeprefix("04"))


@pytest.mark.parametrize("vector", ML_KEM_512, ids=lambda v: v["cid"])
def test_ml_kem_512_vectors_pass_the_ecdh_step_and_refuse_the_kem(vector: dict[str, Any]) -> None:
    params = parameter_set(vector["cid"])
    given = REFERENCE["inputs"][vector["input"]]
    ecdh = EcdhKey.from_private_bytes(params.curve, _h(given["ecdh_private_A"]))
    assert ecdh.public.hex().upper() == given["PA1"]
    assert ecdh.exchange(_h(given["PB1"])).hex().upper() == given["k1"]
    with pytest.raises(HybridUnsupportedError, match="ML-KEM-512"):
        KemKey.from_seed(params.kem, _h(given["mlkem_seed_A"]))
    with pytest.raises(HybridUnsupportedError, match="ML-KEM-512"):
        params.require_supported()


@pytest.mark.parametrize("vector", KMAC, ids=lambda v: v["cid"])
def test_kmac_vectors_are_refused_not_skipped(vector: dict[str, Any]) -> None:
    params = parameter_set(vector["cid"])
    assert params.unsupported is not None
    with pytest.raises(HybridUnsupportedError, match="KMAC"):
        params.require_supported()
    with pytest.raises(HybridUnsupportedError, match="no KMAC"):
        cat_kdf(params.kdf, psk=b"", k1=b"1", k2=b"2", ma=b"", mb=b"", info=b"", label=b"", length=16)


@pytest.mark.parametrize("vector", OWN["vectors"], ids=lambda v: v["name"])
def test_own_vectors_with_a_qkd_key(vector: dict[str, Any]) -> None:
    params = parameter_set(vector["parameter_set"])
    ecdh_a = EcdhKey.from_private_bytes(params.curve, _h(vector["ecdh_private_initiator"]))
    ecdh_b = EcdhKey.from_private_bytes(params.curve, _h(vector["ecdh_private_responder"]))
    kem = KemKey.from_seed(params.kem, _h(vector["mlkem_seed_initiator"]))
    key_id = uuid.UUID(vector["key_id"]) if vector["key_id"] else None
    hello = HybridHello(
        params.cid,
        key_id,
        vector["length"],
        tuple(_h(label) for label in vector["labels_initiator"]),
        ecdh_a.public,
        kem.public,
    )
    reply = HybridReply(
        params.cid,
        tuple(_h(label) for label in vector["labels_responder"]),
        ecdh_b.public,
        _h(vector["mlkem_ciphertext"]),
    )
    k1 = ecdh_a.exchange(ecdh_b.public)
    assert k1 == ecdh_b.exchange(ecdh_a.public)
    key = derive_hybrid_key(
        qkd_key=_h(vector["qkd_key"]),
        hello=hello,
        reply=reply,
        k1=k1,
        k2=kem.decapsulate(reply.kem_ciphertext),
        context=vector["context"].encode(),
    )
    assert key.hex() == vector["key"]
