"""Encryption of key material at rest under the KME master key (AES-256-GCM).

Each unit is sealed with a fresh 96-bit random nonce (``os.urandom``) and its unit ID as associated data,
so a ciphertext moved to another row fails to open. A copied database file reveals nothing without the
master key, which lives in its own file outside the database.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from openqci.kms.errors import ConfigError, StoreError

__all__ = ["MasterKey", "write_master_key"]

_KEY_BYTES = 32
_NONCE_BYTES = 12


class MasterKey:
    """The KME master key; seals and opens unit material. Its bytes never appear in a repr."""

    def __init__(self, key: bytes) -> None:
        if len(key) != _KEY_BYTES:
            raise ConfigError(f"master key must be {_KEY_BYTES} bytes, got {len(key)}")
        self._aead = AESGCM(key)

    @classmethod
    def generate(cls) -> MasterKey:
        """Return a fresh random master key (for tests and first start-up)."""
        return cls(os.urandom(_KEY_BYTES))

    @classmethod
    def from_file(cls, path: Path) -> MasterKey:
        """Read a master key file written by :func:`write_master_key`."""
        try:
            with open(path, "rb") as stream:
                # One byte more than a key tells a wrong file from a key without reading a device forever.
                data = stream.read(_KEY_BYTES + 1)
        except OSError as error:
            raise ConfigError(f"master_key_file: cannot read {path}: {error.strerror}") from None
        return cls(data)

    def seal(self, material: bytes, unit_id: bytes) -> tuple[bytes, bytes]:
        """Encrypt ``material`` bound to ``unit_id``; return ``(nonce, ciphertext)``."""
        nonce = os.urandom(_NONCE_BYTES)
        return nonce, self._aead.encrypt(nonce, material, unit_id)

    def seal_many(self, materials: Sequence[bytes], unit_ids: Sequence[bytes]) -> list[tuple[bytes, bytes]]:
        """:meth:`seal` each material bound to its unit ID, drawing every nonce in one read of the OS RNG."""
        pool = os.urandom(_NONCE_BYTES * len(materials))
        encrypt = self._aead.encrypt
        sealed = []
        for i, (material, unit_id) in enumerate(zip(materials, unit_ids, strict=True)):
            nonce = pool[i * _NONCE_BYTES : (i + 1) * _NONCE_BYTES]
            sealed.append((nonce, encrypt(nonce, material, unit_id)))
        return sealed

    def open(self, nonce: bytes, ciphertext: bytes, unit_id: bytes) -> bytes:
        """Decrypt a sealed unit; a wrong key or a moved row raises :class:`StoreError`."""
        try:
            return self._aead.decrypt(nonce, ciphertext, unit_id)
        except InvalidTag:
            raise StoreError(
                "key material failed authentication: wrong master key or tampered store"
            ) from None

    def open_many(self, sealed: Sequence[tuple[bytes, bytes, str]]) -> list[bytes]:
        """Decrypt ``(nonce, ciphertext, unit_id)`` rows in order with the one cipher object.

        Raises :class:`StoreError` as :meth:`open` does, for the first row that fails.
        """
        decrypt = self._aead.decrypt
        try:
            return [decrypt(bytes(nonce), bytes(data), unit_id.encode()) for nonce, data, unit_id in sealed]
        except InvalidTag:
            raise StoreError(
                "key material failed authentication: wrong master key or tampered store"
            ) from None

    def __repr__(self) -> str:
        return "MasterKey(<hidden>)"


def write_master_key(path: Path) -> None:
    """Write a new random master key to ``path`` (mode 0600), refusing to overwrite an existing file."""
    try:
        with path.open("xb") as handle:
            os.fchmod(handle.fileno(), stat.S_IRUSR | stat.S_IWUSR)
            handle.write(os.urandom(_KEY_BYTES))
    except FileExistsError:
        raise ConfigError(f"{path} exists already; a master key is never overwritten") from None
