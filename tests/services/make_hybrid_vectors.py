"""Write ``data/hybrid_qkd_vectors.json``: the project's own hybrid-key vectors, a QKD key in the PSK slot.

Run once (``python -m tests.services.make_hybrid_vectors``) and commit the file; ``test_hybrid_kat.py``
recomputes every vector from its inputs. Running it again draws new random inputs, so a changed file means
only that the vectors were made again, never that the derivation changed.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec, x448, x25519

from openqci.services.hybrid import HybridHello, HybridReply, derive_hybrid_key
from openqci.services.hybrid_kdf import Combiner, Curve, ParameterSet, parameter_set
from openqci.services.hybrid_primitives import EcdhKey, KemKey, kem_encapsulate

TARGET = Path(__file__).parent / "data" / "hybrid_qkd_vectors.json"

CASES = [
    ("CatKDF/HKDF-SHA256/X25519/ML-KEM-768", True, 32, ""),
    ("CasKDF/HKDF-SHA256/X25519/ML-KEM-768", True, 32, ""),
    ("CatKDF/HMAC-SHA256/P-256/ML-KEM-768", True, 32, "app/session-1"),
    ("CasKDF/HMAC-SHA256/P-256/ML-KEM-768", True, 16, ""),
    ("CatKDF/HKDF-SHA256/brainpoolP256r1/ML-KEM-768", True, 32, ""),
    ("CatKDF/HKDF-SHA384/X448/ML-KEM-1024", True, 48, ""),
    ("CasKDF/HKDF-SHA384/P-384/ML-KEM-768", True, 64, "app/session-2"),
    ("CasKDF/HMAC-SHA384/brainpoolP384r1/ML-KEM-1024", True, 32, ""),
    ("CatKDF/HKDF-SHA256/X25519/ML-KEM-768", False, 32, ""),
    ("CasKDF/HKDF-SHA256/X25519/ML-KEM-768", False, 32, "app/session-3"),
]

_GROUPS: dict[Curve, ec.EllipticCurve] = {
    Curve.P256: ec.SECP256R1(),
    Curve.P384: ec.SECP384R1(),
    Curve.BRAINPOOL_P256: ec.BrainpoolP256R1(),
    Curve.BRAINPOOL_P384: ec.BrainpoolP384R1(),
}


def _ecdh_private(curve: Curve) -> bytes:
    if curve is Curve.X25519:
        return x25519.X25519PrivateKey.generate().private_bytes_raw()
    if curve is Curve.X448:
        return x448.X448PrivateKey.generate().private_bytes_raw()
    group = _GROUPS[curve]
    value = ec.generate_private_key(group).private_numbers().private_value
    return value.to_bytes((group.key_size + 7) // 8, "big")


def _vector(params: ParameterSet, qkd: bool, length: int, context: str) -> dict[str, object]:
    digest = params.kdf.hash().digest_size
    rounds = 1 if params.combiner is Combiner.CAT else 2
    private_a, private_b, seed = _ecdh_private(params.curve), _ecdh_private(params.curve), os.urandom(64)
    ecdh_a = EcdhKey.from_private_bytes(params.curve, private_a)
    ecdh_b = EcdhKey.from_private_bytes(params.curve, private_b)
    kem = KemKey.from_seed(params.kem, seed)
    k2, ciphertext = kem_encapsulate(params.kem, kem.public)
    key_id = uuid.uuid4() if qkd else None
    qkd_key = os.urandom(32) if qkd else b""
    hello = HybridHello(
        params.cid,
        key_id,
        length,
        tuple(os.urandom(digest) for _ in range(rounds)),
        ecdh_a.public,
        kem.public,
    )
    reply = HybridReply(
        params.cid, tuple(os.urandom(digest) for _ in range(rounds)), ecdh_b.public, ciphertext
    )
    key = derive_hybrid_key(
        qkd_key=qkd_key,
        hello=hello,
        reply=reply,
        k1=ecdh_a.exchange(ecdh_b.public),
        k2=k2,
        context=context.encode(),
    )
    return {
        "name": f"{params.name}{'' if qkd else ' without QKD'}",
        "parameter_set": params.name,
        "qkd_key": qkd_key.hex(),
        "key_id": str(key_id) if key_id else "",
        "length": length,
        "context": context,
        "labels_initiator": [label.hex() for label in hello.labels],
        "labels_responder": [label.hex() for label in reply.labels],
        "ecdh_private_initiator": private_a.hex(),
        "ecdh_private_responder": private_b.hex(),
        "mlkem_seed_initiator": seed.hex(),
        "mlkem_ciphertext": ciphertext.hex(),
        "key": key.hex(),
    }


def main() -> None:
    vectors = [_vector(parameter_set(name), qkd, length, context) for name, qkd, length, context in CASES]
    document = {
        "note": (
            "OpenQCI's own ETSI TS 103 744 vectors with a QKD key (ETSI GS QKD 014) in the pre-shared-key "
            "slot and its key_ID in the KDF info; made by tests/services/make_hybrid_vectors.py from random "
            "inputs. Public values follow from the private keys and the ML-KEM seed (FIPS 203 d || z)."
        ),
        "vectors": vectors,
    }
    TARGET.write_text(json.dumps(document, indent=1) + "\n")


if __name__ == "__main__":
    main()
