"""The key combiners of ETSI TS 103 744 V1.2.1 (quantum-safe hybrid key establishment) and its parameter sets.

Two constructions join several shared secrets into one key:

* the concatenate KDF, **CatKDF** (clause 8.2): one KDF call over ``psk || k1 || k2`` with the context
  ``f(info, MA, MB)``;
* the cascade KDF, **CasKDF** (clause 8.3): one round per shared secret; each round keys an HMAC PRF with
  the previous round's chain secret (the pre-shared key before the first round) and feeds the result to
  the KDF, whose output is split into the next chain secret and the round's key material.

Their building blocks are the concatenate-and-hash formatting function ``f`` (clause 7.2.3), the HMAC PRF
(clause 7.3.2), and two KDFs (clause 7.4.2, HKDF; clause 7.4.3, the one-step KDF of NIST SP 800-56C with
HMAC). Every length field is a 32-bit big-endian byte count. The clause numbers are those the ETSI reference
implementation (``etsi-forge/cyber.103744_QHKEX``) gives for each function.

The standard also defines KMAC128/KMAC256 variants (clauses 7.2.2, 7.3.3, 7.4.4). ``cryptography`` has no
KMAC, so those parameter sets are listed but refuse to run (:class:`HybridUnsupportedError`), as do the
sets built on ML-KEM-512, which ``cryptography`` does not provide either.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHMAC
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from openqci.errors import OpenQciError

__all__ = [
    "PARAMETER_SETS",
    "CascadeRound",
    "Combiner",
    "Curve",
    "HybridError",
    "HybridInputError",
    "HybridUnsupportedError",
    "Kdf",
    "Kem",
    "ParameterSet",
    "cas_kdf",
    "cas_kdf_round",
    "cat_kdf",
    "format_context",
    "kdf",
    "length_prefixed",
    "parameter_set",
    "prf",
]


class HybridError(OpenQciError):
    """A hybrid key could not be derived."""


class HybridInputError(HybridError, ValueError):
    """An input is malformed (a length, a parameter set, a message); the message names what to fix."""


class HybridUnsupportedError(HybridInputError):
    """The parameter set needs a primitive that ``cryptography`` does not provide (KMAC, ML-KEM-512)."""


class Kdf(StrEnum):
    """The KDF and hash of a parameter set (the first digit of its identifier)."""

    HKDF_SHA256 = "HKDF-SHA256"
    HKDF_SHA384 = "HKDF-SHA384"
    HMAC_SHA256 = "HMAC-SHA256"
    HMAC_SHA384 = "HMAC-SHA384"
    KMAC128 = "KMAC128"
    KMAC256 = "KMAC256"

    def hash(self) -> hashes.HashAlgorithm:
        """The hash under the PRF, the formatting function and the KDF.

        Raises
        ------
        HybridUnsupportedError
            For the KMAC variants, which ``cryptography`` cannot compute.
        """
        if self in (Kdf.HKDF_SHA256, Kdf.HMAC_SHA256):
            return hashes.SHA256()
        if self in (Kdf.HKDF_SHA384, Kdf.HMAC_SHA384):
            return hashes.SHA384()
        raise HybridUnsupportedError(
            f"{self.value} (TS 103 744 clause 7.4.4) is not available: cryptography provides no KMAC; "
            "choose an HKDF or HMAC parameter set"
        )


class Curve(StrEnum):
    """The elliptic-curve Diffie-Hellman group of a parameter set (the second digit)."""

    P256 = "P-256"
    P384 = "P-384"
    BRAINPOOL_P256 = "brainpoolP256r1"
    BRAINPOOL_P384 = "brainpoolP384r1"
    X25519 = "X25519"
    X448 = "X448"


class Kem(StrEnum):
    """The ML-KEM (FIPS 203) level of a parameter set (the third digit)."""

    ML_KEM_512 = "ML-KEM-512"
    ML_KEM_768 = "ML-KEM-768"
    ML_KEM_1024 = "ML-KEM-1024"


class Combiner(StrEnum):
    """How the shared secrets are joined (the fourth digit): clause 8.2 or clause 8.3."""

    CAT = "CatKDF"
    CAS = "CasKDF"


_KDF_DIGIT = {
    Kdf.HKDF_SHA256: "1",
    Kdf.HKDF_SHA384: "2",
    Kdf.HMAC_SHA256: "4",
    Kdf.HMAC_SHA384: "5",
    Kdf.KMAC128: "7",
    Kdf.KMAC256: "8",
}
_CURVE_DIGIT = {
    Curve.P256: "1",
    Curve.P384: "2",
    Curve.BRAINPOOL_P256: "4",
    Curve.BRAINPOOL_P384: "5",
    Curve.X25519: "7",
    Curve.X448: "8",
}
_KEM_DIGIT = {Kem.ML_KEM_512: "1", Kem.ML_KEM_768: "2", Kem.ML_KEM_1024: "3"}
_COMBINER_DIGIT = {Combiner.CAT: "1", Combiner.CAS: "2"}


@dataclass(frozen=True)
class ParameterSet:
    """One of the standard's fixed parameter sets: a KDF, an ECDH group, an ML-KEM level and a combiner."""

    kdf: Kdf
    curve: Curve
    kem: Kem
    combiner: Combiner

    @property
    def cid(self) -> str:
        """The four-digit identifier the reference implementation's test vectors carry (e.g. ``1721``)."""
        return (
            _KDF_DIGIT[self.kdf]
            + _CURVE_DIGIT[self.curve]
            + _KEM_DIGIT[self.kem]
            + _COMBINER_DIGIT[self.combiner]
        )

    @property
    def name(self) -> str:
        """A readable name, e.g. ``CatKDF/HKDF-SHA256/X25519/ML-KEM-768``."""
        return f"{self.combiner.value}/{self.kdf.value}/{self.curve.value}/{self.kem.value}"

    @property
    def unsupported(self) -> str | None:
        """Why ``cryptography`` cannot run this set, or None when it can."""
        reasons = []
        if self.kdf in (Kdf.KMAC128, Kdf.KMAC256):
            reasons.append(f"{self.kdf.value} (cryptography provides no KMAC)")
        if self.kem is Kem.ML_KEM_512:
            reasons.append("ML-KEM-512 (cryptography provides only ML-KEM-768 and ML-KEM-1024)")
        return "; ".join(reasons) or None

    def require_supported(self) -> None:
        """Raise before any key material is made for a set that cannot finish.

        Raises
        ------
        HybridUnsupportedError
            Naming the missing primitive.
        """
        if self.unsupported is not None:
            raise HybridUnsupportedError(
                f"parameter set {self.name} ({self.cid}) needs {self.unsupported}; choose a set without it"
            )


def _standard_sets() -> dict[str, ParameterSet]:
    # The standard's sets pair the 128-bit-strength KDFs with P-256, brainpoolP256r1 and X25519 over
    # ML-KEM-512/768, and the 192-bit ones with P-384, brainpoolP384r1 and X448 over ML-KEM-768/1024.
    low = ((Curve.P256, Curve.X25519, Curve.BRAINPOOL_P256), (Kem.ML_KEM_512, Kem.ML_KEM_768))
    high = ((Curve.P384, Curve.X448, Curve.BRAINPOOL_P384), (Kem.ML_KEM_768, Kem.ML_KEM_1024))
    strength = {
        Kdf.HKDF_SHA256: low,
        Kdf.HMAC_SHA256: low,
        Kdf.KMAC128: low,
        Kdf.HKDF_SHA384: high,
        Kdf.HMAC_SHA384: high,
        Kdf.KMAC256: high,
    }
    sets: dict[str, ParameterSet] = {}
    for combiner in Combiner:
        for kdf_kind, (curves, kems) in strength.items():
            for kem in kems:
                for curve in curves:
                    found = ParameterSet(kdf_kind, curve, kem, combiner)
                    sets[found.name] = found
    return sets


PARAMETER_SETS: dict[str, ParameterSet] = _standard_sets()
"""Every parameter set of the standard (72), by name."""

_BY_CID = {found.cid: found for found in PARAMETER_SETS.values()}


def parameter_set(name_or_cid: str | ParameterSet) -> ParameterSet:
    """Look a parameter set up by name or four-digit identifier, so callers can keep either in configuration.

    Raises
    ------
    HybridInputError
        If neither names a set of the standard.
    """
    if isinstance(name_or_cid, ParameterSet):
        return name_or_cid
    found = PARAMETER_SETS.get(name_or_cid) or _BY_CID.get(name_or_cid)
    if found is None:
        raise HybridInputError(
            f"unknown parameter set {name_or_cid!r}: give a name such as "
            f"'CatKDF/HKDF-SHA256/X25519/ML-KEM-768' or its identifier '1721' (see PARAMETER_SETS)"
        )
    return found


def length_prefixed(*fields: bytes) -> bytes:
    """Each field as a 32-bit big-endian byte count and its bytes: the standard's unambiguous encoding."""
    return b"".join(struct.pack(">I", len(item)) + item for item in fields)


def format_context(kind: Kdf, first: bytes, second: bytes, third: bytes) -> bytes:
    """The concatenate-and-hash formatting function f of clause 7.2.3.

    Hashing the length-prefixed fields keeps the KDF's context one digest long however large the messages
    (an ML-KEM public key is over a kilobyte), and no two field splits give the same input.
    """
    digest = hashes.Hash(kind.hash())
    digest.update(length_prefixed(first, second, third))
    return digest.finalize()


def _check_length(kind: Kdf, length: int, what: str) -> None:
    limit = 255 * kind.hash().digest_size
    if not 1 <= length <= limit:
        raise HybridInputError(f"{what} must be 1 to {limit} bytes for {kind.value}, got {length}")


def kdf(kind: Kdf, secret: bytes, label: bytes, context: bytes, length: int) -> bytes:
    """The KDF of clause 7.4.2 (HKDF) or 7.4.3 (SP 800-56C one-step KDF with HMAC).

    The label is the salt and the context the info (HKDF) or FixedInfo (one-step KDF), as the reference
    implementation maps them.

    Raises
    ------
    HybridInputError
        If ``length`` is outside what the KDF can produce.
    HybridUnsupportedError
        For KMAC.
    """
    algorithm = kind.hash()
    _check_length(kind, length, "the derived key length")
    if kind in (Kdf.HKDF_SHA256, Kdf.HKDF_SHA384):
        return HKDF(algorithm, length, label, context).derive(secret)
    return ConcatKDFHMAC(algorithm, length, label, context).derive(secret)


def prf(kind: Kdf, key: bytes, secret: bytes, ma: bytes, mb: bytes) -> bytes:
    """The HMAC PRF of clause 7.3.2: ``HMAC(key, f(secret, MA, MB))``; the key may be empty."""
    mac = hmac.HMAC(key, kind.hash())
    mac.update(format_context(kind, secret, ma, mb))
    return mac.finalize()


def _require(value: bytes, what: str) -> None:
    if not value:
        raise HybridInputError(f"{what} is empty: a shared secret must have at least one byte")


def cat_kdf(
    kind: Kdf,
    *,
    psk: bytes,
    k1: bytes,
    k2: bytes,
    ma: bytes,
    mb: bytes,
    info: bytes,
    label: bytes,
    length: int,
) -> bytes:
    """CatKDF (clause 8.2): ``KDF(psk || k1 || k2, label, f(info, MA, MB), length)``.

    ``psk`` is the standard's pre-shared-key slot (empty when there is none); ``k1`` the ECDH and ``k2``
    the ML-KEM shared secret. Each message binds what its sender offered, so an attacker who changes
    either changes the key.

    Raises
    ------
    HybridInputError
        If a shared secret is empty or ``length`` is out of range.
    """
    _require(k1, "k1 (the ECDH shared secret)")
    _require(k2, "k2 (the ML-KEM shared secret)")
    context = format_context(kind, info, ma, mb)
    return kdf(kind, psk + k1 + k2, label, context, length)


def cas_kdf_round(
    kind: Kdf,
    *,
    previous_chain_secret: bytes,
    secret: bytes,
    ma: bytes,
    mb: bytes,
    info: bytes,
    label: bytes,
    length: int,
) -> tuple[bytes, bytes]:
    """One CasKDF round (clause 8.3): the next chain secret (one digest long) and the round's key material.

    ``round_secret = PRF(previous_chain_secret, f(secret, MA_i, MB_i))``, then
    ``chain_secret || key_material = KDF(round_secret, label_i, info_i, digest + length)``.

    Raises
    ------
    HybridInputError
        If ``secret`` is empty or ``length`` is out of range.
    """
    _require(secret, "the round's shared secret")
    chain_length = kind.hash().digest_size
    _check_length(kind, chain_length + length, "the chain secret and key material together")
    round_secret = prf(kind, previous_chain_secret, secret, ma, mb)
    output = kdf(kind, round_secret, label, info, chain_length + length)
    return output[:chain_length], output[chain_length:]


@dataclass(frozen=True)
class CascadeRound:
    """The inputs of one CasKDF round: its shared secret, its two messages, its info and its label."""

    secret: bytes
    ma: bytes
    mb: bytes
    info: bytes
    label: bytes


def cas_kdf(kind: Kdf, *, psk: bytes, rounds: Sequence[CascadeRound], length: int) -> bytes:
    """CasKDF over several rounds: the pre-shared key is the first chain secret; the last round's key wins.

    Raises
    ------
    HybridInputError
        If there is no round, a round's secret is empty or ``length`` is out of range.
    """
    if not rounds:
        raise HybridInputError("CasKDF needs at least one round (one per shared secret)")
    chain, key = psk, b""
    for step in rounds:
        chain, key = cas_kdf_round(
            kind,
            previous_chain_secret=chain,
            secret=step.secret,
            ma=step.ma,
            mb=step.mb,
            info=step.info,
            label=step.label,
            length=length,
        )
    return key
