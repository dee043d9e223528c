"""The exchanges under a hybrid key: ECDH over the standard's curves and ML-KEM, all from ``cryptography``.

Public values travel in the form the ETSI TS 103 744 reference vectors use: X25519 and X448 keys raw,
and the NIST and Brainpool curves as the uncompressed point's ``X || Y`` without the ``04`` prefix (a fixed
length per curve). Every shared secret is the raw ECDH output (the x-coordinate on the Weierstrass curves)
or the 32-byte ML-KEM shared secret.
"""

from __future__ import annotations

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, mlkem, x448, x25519

from openqci.services.hybrid_kdf import Curve, HybridInputError, HybridUnsupportedError, Kem

__all__ = ["EcdhKey", "KemKey", "ecdh_public_length", "kem_encapsulate", "kem_sizes"]

_WEIERSTRASS: dict[Curve, tuple[ec.EllipticCurve, int]] = {
    Curve.P256: (ec.SECP256R1(), 32),
    Curve.P384: (ec.SECP384R1(), 48),
    Curve.BRAINPOOL_P256: (ec.BrainpoolP256R1(), 32),
    Curve.BRAINPOOL_P384: (ec.BrainpoolP384R1(), 48),
}
_MONTGOMERY_LENGTH = {Curve.X25519: 32, Curve.X448: 56}

# (encapsulation key, ciphertext) lengths in bytes, FIPS 203 table 3.
_KEM_SIZES = {Kem.ML_KEM_768: (1184, 1088), Kem.ML_KEM_1024: (1568, 1568)}

_Private = ec.EllipticCurvePrivateKey | x25519.X25519PrivateKey | x448.X448PrivateKey
_KemPrivate = mlkem.MLKEM768PrivateKey | mlkem.MLKEM1024PrivateKey


def ecdh_public_length(curve: Curve) -> int:
    """Bytes in a public value of ``curve``, so a message can be checked before any arithmetic."""
    if curve in _WEIERSTRASS:
        return 2 * _WEIERSTRASS[curve][1]
    return _MONTGOMERY_LENGTH[curve]


class EcdhKey:
    """An ECDH private key of one of the standard's curves, with its public value in the vectors' form."""

    def __init__(self, curve: Curve, private: _Private) -> None:
        self.curve = curve
        self._private = private
        if isinstance(private, ec.EllipticCurvePrivateKey):
            point = private.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
            self.public = point[1:]
        else:
            self.public = private.public_key().public_bytes_raw()

    @classmethod
    def generate(cls, curve: Curve) -> EcdhKey:
        """A fresh ephemeral key: each hybrid key gets its own, so a later leak exposes only that key."""
        if curve is Curve.X25519:
            return cls(curve, x25519.X25519PrivateKey.generate())
        if curve is Curve.X448:
            return cls(curve, x448.X448PrivateKey.generate())
        return cls(curve, ec.generate_private_key(_WEIERSTRASS[curve][0]))

    @classmethod
    def from_private_bytes(cls, curve: Curve, data: bytes) -> EcdhKey:
        """A key from its private bytes (the scalar, big-endian, on Weierstrass curves), for known answers.

        Raises
        ------
        HybridInputError
            If ``data`` is not a private key of ``curve``.
        """
        try:
            if curve is Curve.X25519:
                return cls(curve, x25519.X25519PrivateKey.from_private_bytes(data))
            if curve is Curve.X448:
                return cls(curve, x448.X448PrivateKey.from_private_bytes(data))
            group, size = _WEIERSTRASS[curve]
            if len(data) != size:
                raise ValueError(f"expected {size} bytes, got {len(data)}")
            return cls(curve, ec.derive_private_key(int.from_bytes(data, "big"), group))
        except ValueError as error:
            raise HybridInputError(f"ECDH private key for {curve.value} is not valid: {error}") from None

    def private_bytes(self) -> bytes:
        """The private key as :meth:`from_private_bytes` takes it (raw on X25519/X448, else the scalar)."""
        if isinstance(self._private, ec.EllipticCurvePrivateKey):
            size = _WEIERSTRASS[self.curve][1]
            return self._private.private_numbers().private_value.to_bytes(size, "big")
        return self._private.private_bytes_raw()

    def exchange(self, peer_public: bytes) -> bytes:
        """The shared secret with the peer's public value.

        Raises
        ------
        HybridInputError
            If the public value has the wrong length, is not on the curve, or gives a degenerate secret.
        """
        expected = ecdh_public_length(self.curve)
        if len(peer_public) != expected:
            raise HybridInputError(
                f"ECDH public value for {self.curve.value} must be {expected} bytes, got {len(peer_public)}"
            )
        try:
            if isinstance(self._private, x25519.X25519PrivateKey):
                return self._private.exchange(x25519.X25519PublicKey.from_public_bytes(peer_public))
            if isinstance(self._private, x448.X448PrivateKey):
                return self._private.exchange(x448.X448PublicKey.from_public_bytes(peer_public))
            group = _WEIERSTRASS[self.curve][0]
            peer = ec.EllipticCurvePublicKey.from_encoded_point(group, b"\x04" + peer_public)
            return self._private.exchange(ec.ECDH(), peer)
        except ValueError as error:
            raise HybridInputError(
                f"ECDH public value for {self.curve.value} is not valid: {error}"
            ) from None


def kem_sizes(kem: Kem) -> tuple[int, int]:
    """(encapsulation key, ciphertext) lengths in bytes.

    Raises
    ------
    HybridUnsupportedError
        For ML-KEM-512, which ``cryptography`` does not provide.
    """
    if kem not in _KEM_SIZES:
        raise HybridUnsupportedError(
            f"{kem.value} is not available: cryptography provides only ML-KEM-768 and ML-KEM-1024"
        )
    return _KEM_SIZES[kem]


def _unavailable(kem: Kem, error: UnsupportedAlgorithm) -> HybridUnsupportedError:
    return HybridUnsupportedError(f"{kem.value} is not available in this build of cryptography: {error}")


class KemKey:
    """An ML-KEM decapsulation key; its encapsulation key (``public``) goes to the peer."""

    def __init__(self, kem: Kem, private: _KemPrivate) -> None:
        self.kem = kem
        self._private = private
        self.public = private.public_key().public_bytes_raw()

    @classmethod
    def generate(cls, kem: Kem) -> KemKey:
        """A fresh ephemeral key pair.

        Raises
        ------
        HybridUnsupportedError
            For ML-KEM-512, or a cryptography built without ML-KEM.
        """
        kem_sizes(kem)
        try:
            if kem is Kem.ML_KEM_768:
                return cls(kem, mlkem.MLKEM768PrivateKey.generate())
            return cls(kem, mlkem.MLKEM1024PrivateKey.generate())
        except UnsupportedAlgorithm as error:
            raise _unavailable(kem, error) from None

    @classmethod
    def from_seed(cls, kem: Kem, seed: bytes) -> KemKey:
        """The key pair of a 64-byte FIPS 203 seed ``d || z``, for known answers.

        Raises
        ------
        HybridInputError
            If the seed is not 64 bytes.
        """
        kem_sizes(kem)
        if len(seed) != 64:
            raise HybridInputError(f"{kem.value} seed must be 64 bytes (d || z), got {len(seed)}")
        try:
            if kem is Kem.ML_KEM_768:
                return cls(kem, mlkem.MLKEM768PrivateKey.from_seed_bytes(seed))
            return cls(kem, mlkem.MLKEM1024PrivateKey.from_seed_bytes(seed))
        except UnsupportedAlgorithm as error:
            raise _unavailable(kem, error) from None

    def seed(self) -> bytes:
        """The 64-byte FIPS 203 seed ``d || z`` that :meth:`from_seed` takes back."""
        return self._private.private_bytes_raw()

    def decapsulate(self, ciphertext: bytes) -> bytes:
        """The shared secret of a ciphertext; a forged one yields an unrelated secret (implicit rejection).

        Raises
        ------
        HybridInputError
            If the ciphertext has the wrong length.
        """
        expected = kem_sizes(self.kem)[1]
        if len(ciphertext) != expected:
            raise HybridInputError(
                f"{self.kem.value} ciphertext must be {expected} bytes, got {len(ciphertext)}"
            )
        return self._private.decapsulate(ciphertext)


def kem_encapsulate(kem: Kem, public: bytes) -> tuple[bytes, bytes]:
    """(shared secret, ciphertext) for the peer's encapsulation key.

    Raises
    ------
    HybridInputError
        If the encapsulation key has the wrong length or fails FIPS 203's input check.
    HybridUnsupportedError
        For ML-KEM-512.
    """
    expected = kem_sizes(kem)[0]
    if len(public) != expected:
        raise HybridInputError(f"{kem.value} encapsulation key must be {expected} bytes, got {len(public)}")
    try:
        if kem is Kem.ML_KEM_768:
            peer: mlkem.MLKEM768PublicKey | mlkem.MLKEM1024PublicKey = (
                mlkem.MLKEM768PublicKey.from_public_bytes(public)
            )
        else:
            peer = mlkem.MLKEM1024PublicKey.from_public_bytes(public)
    except UnsupportedAlgorithm as error:
        raise _unavailable(kem, error) from None
    except ValueError as error:
        raise HybridInputError(f"{kem.value} encapsulation key is not valid: {error}") from None
    return peer.encapsulate()
