"""Sealed files: data at rest encrypted at one SAE under a QKD (or hybrid) key that only the peer SAE can get.

The sealing SAE (the master) takes one QKD key with ``enc_keys`` and derives the file key from it; the
header names the key by key_ID, so the opening SAE (the slave) gets the same key with ``dec_keys``. The
opener cannot answer, so the two-message exchange of :mod:`.hybrid` does not fit; instead:

* mode ``qkd``: the file key is HKDF-SHA256 (ETSI TS 103 744 clause 7.4.2) of the QKD key, salted with a
  fresh label and bound to the key_ID, the key length and both SAE IDs.
* mode ``hybrid``: the file key is CatKDF (clause 8.2) of the QKD key (the pre-shared-key slot), an ECDH
  secret of a fresh ephemeral key with the recipient's long-term ECDH key and an ML-KEM secret
  encapsulated to the recipient's long-term ML-KEM key (a :class:`SealingPublicKey`, made once by the
  recipient with :meth:`SealingKey.generate`). It stays secret while any of the three does.

The body is AES-256-GCM in chunks: chunk ``i`` has the nonce ``nonce xor i`` and, as associated data, the
header's SHA-256, ``i`` and a flag marking the last chunk, so a chunk changed, moved, dropped or cut off is
refused, and so is a changed header. The format, limits and the security argument are in
``docs/services.md``.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import os
import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Self

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from openqci.errors import OpenQciError
from openqci.services.hybrid_kdf import (
    Combiner,
    HybridError,
    Kdf,
    ParameterSet,
    cat_kdf,
    kdf,
    length_prefixed,
    parameter_set,
)
from openqci.services.hybrid_primitives import EcdhKey, KemKey, ecdh_public_length, kem_encapsulate, kem_sizes
from openqci.services.sae_client import (
    QkdKey,
    SaeBadRequestError,
    SaeClient,
    SaeClientError,
    SaeUnauthorizedError,
    SaeUnavailableError,
)

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "DEFAULT_SEALING_SET",
    "FORMAT",
    "MAGIC",
    "MAX_CHUNK_BYTES",
    "MAX_HEADER_BYTES",
    "SealedFile",
    "SealedFileError",
    "SealingKey",
    "SealingPublicKey",
    "check_open",
    "check_seal",
    "open_file",
    "read_header",
    "seal_file",
]

FORMAT = "openqci-sealed/1"
MAGIC = b"OQCISEAL"
VERSION = 1
DEFAULT_CHUNK_BYTES = 1 << 16
MIN_CHUNK_BYTES = 16
MAX_CHUNK_BYTES = 1 << 24
MAX_HEADER_BYTES = 1 << 16
DEFAULT_SEALING_SET = "CatKDF/HKDF-SHA256/X25519/ML-KEM-768"
FILE_KEY_BYTES = 32
DOMAIN = b"OpenQCI sealed file/1"

_PREFIX = struct.Struct(">8sBI")
_CHUNK = struct.Struct(">I")
_TAG = 16
_PRIVATE_FORMAT = "openqci-sealing-key/1"
_PUBLIC_FORMAT = "openqci-sealing-public-key/1"


class SealedFileError(OpenQciError):
    """A file cannot be sealed or opened; the message says why (nothing was written)."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be base64 text")
    return base64.b64decode(value, validate=True)


def _sealing_set(name: str) -> ParameterSet:
    try:
        chosen = parameter_set(name)
        chosen.require_supported()
    except HybridError as error:
        raise SealedFileError(str(error)) from None
    if chosen.combiner is not Combiner.CAT:
        raise SealedFileError(f"sealed files use a CatKDF parameter set, not {chosen.name}")
    return chosen


@dataclass(frozen=True)
class SealingPublicKey:
    """A recipient SAE's long-term public values for hybrid sealing: ECDH and ML-KEM."""

    sae_id: str
    parameter_set: str
    ecdh_public: bytes
    kem_public: bytes

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the parameter set and both public values, in hex: what a sealed header names."""
        data = length_prefixed(self.parameter_set.encode(), self.ecdh_public, self.kem_public)
        return hashlib.sha256(data).hexdigest()

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "format": _PUBLIC_FORMAT,
                "SAE_ID": self.sae_id,
                "parameter_set": self.parameter_set,
                "ecdh_public": _b64(self.ecdh_public),
                "kem_public": _b64(self.kem_public),
            },
            option=orjson.OPT_INDENT_2,
        )

    @classmethod
    def load(cls, path: Path) -> Self:
        """Read a public sealing key file.

        Raises
        ------
        SealedFileError
            If it cannot be read or is not a public sealing key that fits its parameter set.
        """
        document = _read_json(path, _PUBLIC_FORMAT)
        try:
            params = _sealing_set(str(document["parameter_set"]))
            key = cls(
                str(document["SAE_ID"]),
                params.cid,
                _unb64(document["ecdh_public"], "ecdh_public"),
                _unb64(document["kem_public"], "kem_public"),
            )
        except (KeyError, ValueError) as error:
            raise SealedFileError(f"{path}: not a public sealing key: {error}") from None
        if (
            len(key.ecdh_public) != ecdh_public_length(params.curve)
            or len(key.kem_public) != kem_sizes(params.kem)[0]
        ):
            raise SealedFileError(f"{path}: the public values do not fit {params.name}")
        return key


def _read_json(path: Path, expected_format: str) -> dict[str, Any]:
    try:
        document = orjson.loads(path.read_bytes())
    except OSError as error:
        raise SealedFileError(f"cannot read {path}: {error.strerror or error}") from None
    except orjson.JSONDecodeError:
        raise SealedFileError(f"{path}: not JSON (expected a {expected_format} file)") from None
    if not isinstance(document, dict) or document.get("format") != expected_format:
        raise SealedFileError(f"{path}: not a {expected_format} file")
    return document


class SealingKey:
    """A recipient SAE's long-term private keys for hybrid sealing (ECDH and ML-KEM, one parameter set)."""

    def __init__(self, sae_id: str, params: ParameterSet, ecdh: EcdhKey, kem: KemKey) -> None:
        self.sae_id = sae_id
        self.params = params
        self.ecdh = ecdh
        self.kem = kem
        self.public = SealingPublicKey(sae_id, params.cid, ecdh.public, kem.public)

    @classmethod
    def generate(cls, sae_id: str, parameter_set_name: str = DEFAULT_SEALING_SET) -> Self:
        """New long-term keys for ``sae_id``.

        Raises
        ------
        SealedFileError
            For a parameter set that is not a supported CatKDF set.
        """
        params = _sealing_set(parameter_set_name)
        return cls(sae_id, params, EcdhKey.generate(params.curve), KemKey.generate(params.kem))

    def save(self, private_path: Path, public_path: Path) -> None:
        """Write the private file (mode 0600) and the public file; neither may exist yet.

        Raises
        ------
        SealedFileError
            If a file exists or cannot be written.
        """
        for path in (private_path, public_path):
            if path.exists():
                raise SealedFileError(f"{path} exists: a sealing key is never overwritten")
        document = {
            "format": _PRIVATE_FORMAT,
            "SAE_ID": self.sae_id,
            "parameter_set": self.params.cid,
            "ecdh_private": _b64(self.ecdh.private_bytes()),
            "kem_seed": _b64(self.kem.seed()),
        }
        try:
            descriptor = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as out:
                out.write(orjson.dumps(document, option=orjson.OPT_INDENT_2))
            public_path.write_bytes(self.public.to_json())
        except OSError as error:
            raise SealedFileError(f"cannot write the sealing key: {error}") from None

    @classmethod
    def load(cls, path: Path) -> Self:
        """Read a private sealing key file.

        Raises
        ------
        SealedFileError
            If it cannot be read or is not a private sealing key.
        """
        document = _read_json(path, _PRIVATE_FORMAT)
        try:
            params = _sealing_set(str(document["parameter_set"]))
            ecdh = EcdhKey.from_private_bytes(params.curve, _unb64(document["ecdh_private"], "ecdh_private"))
            kem = KemKey.from_seed(params.kem, _unb64(document["kem_seed"], "kem_seed"))
            return cls(str(document["SAE_ID"]), params, ecdh, kem)
        except (KeyError, ValueError) as error:
            raise SealedFileError(f"{path}: not a private sealing key: {error}") from None


@dataclass(frozen=True)
class SealedFile:
    """What a sealed file's header says, and (after sealing or opening) how much data it holds."""

    path: Path
    mode: str
    master_sae_id: str
    slave_sae_id: str
    key_id: uuid.UUID
    kdf: str
    chunk_bytes: int
    recipient_key: str | None = None
    data_bytes: int = 0
    chunks: int = 0

    def record(self) -> dict[str, Any]:
        return {
            "file": str(self.path),
            "format": FORMAT,
            "mode": self.mode,
            "master_SAE_ID": self.master_sae_id,
            "slave_SAE_ID": self.slave_sae_id,
            "key_IDs": [str(self.key_id)],
            "kdf": self.kdf,
            "recipient_key": self.recipient_key,
            "chunk_bytes": self.chunk_bytes,
            "chunks": self.chunks,
            "data_bytes": self.data_bytes,
        }


@dataclass(frozen=True)
class _Header:
    raw: dict[str, Any]
    digest: bytes
    info: SealedFile
    label: bytes
    nonce: bytes
    ecdh_public: bytes = b""
    kem_ciphertext: bytes = b""


def _info(key_id: uuid.UUID, master: str, slave: str) -> bytes:
    return length_prefixed(
        DOMAIN, key_id.bytes, FILE_KEY_BYTES.to_bytes(4, "big"), master.encode(), slave.encode()
    )


def _hybrid_messages(
    params: ParameterSet, label: bytes, ephemeral: bytes, ciphertext: bytes, recipient: SealingPublicKey
) -> tuple[bytes, bytes]:
    """CatKDF's messages: MA what the sealer sent (label, ephemeral ECDH value, ML-KEM ciphertext), MB the
    recipient's long-term public values."""
    cid = bytes.fromhex(params.cid)
    return (
        cid + length_prefixed(label, ephemeral, ciphertext),
        cid + length_prefixed(recipient.ecdh_public, recipient.kem_public),
    )


def _prefix(header: bytes) -> bytes:
    return _PREFIX.pack(MAGIC, VERSION, len(header)) + header


def _chunk_aad(digest: bytes, index: int, final: bool) -> bytes:
    return digest + index.to_bytes(8, "big") + (b"\x01" if final else b"\x00")


def _nonce(base: bytes, index: int) -> bytes:
    return (int.from_bytes(base, "big") ^ index).to_bytes(12, "big")


def _read_chunks(source: IO[bytes], size: int) -> Iterator[tuple[bytes, bool]]:
    """The source in pieces of ``size`` bytes, each with a flag on the last (one empty piece if empty)."""
    current = source.read(size)
    while True:
        following = source.read(size) if len(current) == size else b""
        yield current, not following
        if not following:
            return
        current = following


def seal_file(
    source: Path,
    target: Path,
    client: SaeClient,
    *,
    master_sae_id: str,
    slave_sae_id: str,
    recipient: SealingPublicKey | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    key_bits: int = 256,
) -> SealedFile:
    """Seal ``source`` into ``target`` for ``slave_sae_id``, under one new QKD key (and ``recipient``'s keys).

    Fails closed: without a QKD key nothing is sealed. ``target`` is written beside itself as ``.part`` and
    renamed when complete; it must not exist.

    Raises
    ------
    SealedFileError
        If a file cannot be read or written, a setting is out of range, or the KME has no key.
    SaeClientError
        If the KME refuses the request (unknown SAE, unauthorised).
    """
    check_seal(source, target, chunk_bytes, key_bits)
    if recipient is not None and recipient.sae_id != slave_sae_id:
        raise SealedFileError(
            f"the recipient key is {recipient.sae_id}'s, but the file is for {slave_sae_id}"
        )
    try:
        container = client.enc_keys(slave_sae_id, number=1, size_bits=key_bits)
    except SaeUnavailableError as error:
        raise SealedFileError(
            f"no QKD key for {slave_sae_id} ({error}); nothing was sealed (fail closed)"
        ) from None
    if not container.keys:
        raise SealedFileError(f"the KME at {client.kme_url} answered enc_keys with no key")
    qkd = container.keys[0]
    label, nonce = os.urandom(32), os.urandom(12)
    document: dict[str, Any] = {
        "format": FORMAT,
        "mode": "qkd" if recipient is None else "hybrid",
        "master_SAE_ID": master_sae_id,
        "slave_SAE_ID": slave_sae_id,
        "key_IDs": [str(qkd.key_id)],
        "key_bits": 8 * len(qkd.key),
        "aead": "AES-256-GCM",
        "nonce": nonce.hex(),
        "chunk_bytes": chunk_bytes,
    }
    info = _info(qkd.key_id, master_sae_id, slave_sae_id)
    if recipient is None:
        file_key = kdf(Kdf.HKDF_SHA256, qkd.key, label, info, FILE_KEY_BYTES)
        document["kdf"] = {"name": Kdf.HKDF_SHA256.value, "label": label.hex(), "length": FILE_KEY_BYTES}
    else:
        params = _sealing_set(recipient.parameter_set)
        label = os.urandom(params.kdf.hash().digest_size)
        ephemeral = EcdhKey.generate(params.curve)
        k1 = ephemeral.exchange(recipient.ecdh_public)
        k2, ciphertext = kem_encapsulate(params.kem, recipient.kem_public)
        ma, mb = _hybrid_messages(params, label, ephemeral.public, ciphertext, recipient)
        file_key = cat_kdf(
            params.kdf, psk=qkd.key, k1=k1, k2=k2, ma=ma, mb=mb, info=info, label=label, length=FILE_KEY_BYTES
        )
        document["kdf"] = {
            "name": params.name,
            "cid": params.cid,
            "label": label.hex(),
            "length": FILE_KEY_BYTES,
        }
        document |= {
            "recipient_key": recipient.fingerprint,
            "ecdh_public": _b64(ephemeral.public),
            "kem_ciphertext": _b64(ciphertext),
        }
    header = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    prefix = _prefix(header)
    digest = hashlib.sha256(prefix).digest()
    aead = AESGCM(file_key)
    data_bytes = chunks = 0
    with _Output(target) as out, _opened(source) as data:
        out.write(prefix)
        for index, (piece, final) in enumerate(_read_chunks(data, chunk_bytes)):
            sealed = aead.encrypt(_nonce(nonce, index), piece, _chunk_aad(digest, index, final))
            out.write(_CHUNK.pack(len(sealed)) + sealed)
            data_bytes += len(piece)
            chunks += 1
    return SealedFile(
        target,
        document["mode"],
        master_sae_id,
        slave_sae_id,
        qkd.key_id,
        document["kdf"]["name"],
        chunk_bytes,
        document.get("recipient_key"),
        data_bytes,
        chunks,
    )


def check_seal(
    source: Path, target: Path, chunk_bytes: int = DEFAULT_CHUNK_BYTES, key_bits: int = 256
) -> None:
    """The checks :func:`seal_file` makes before asking the KME for a key.

    Raises
    ------
    SealedFileError
        If a setting is out of range, ``source`` cannot be read or ``target`` exists.
    """
    if not MIN_CHUNK_BYTES <= chunk_bytes <= MAX_CHUNK_BYTES:
        raise SealedFileError(f"chunk_bytes must be {MIN_CHUNK_BYTES}..{MAX_CHUNK_BYTES}, got {chunk_bytes}")
    if key_bits < 128 or key_bits % 8:
        raise SealedFileError(f"the QKD key must be a multiple of 8 bits, at least 128, got {key_bits}")
    if not source.is_file() or not os.access(source, os.R_OK):
        raise SealedFileError(f"cannot read {source}: not a readable file")
    _check_target(target)


def _check_target(target: Path) -> None:
    if target.exists():
        raise SealedFileError(f"{target} exists: it is never overwritten")
    if not target.resolve().parent.is_dir():
        raise SealedFileError(f"{target}: the folder {target.resolve().parent} does not exist")


@contextlib.contextmanager
def _opened(path: Path) -> Iterator[IO[bytes]]:
    try:
        handle = path.open("rb")
    except OSError as error:
        raise SealedFileError(f"cannot read {path}: {error.strerror or error}") from None
    with handle:
        yield handle


class _Output:
    """``target`` written as ``target.part`` and renamed on success; removed on any failure."""

    def __init__(self, target: Path) -> None:
        self._target = target
        self._part = target.with_name(target.name + ".part")
        self._handle: IO[bytes] | None = None

    def __enter__(self) -> IO[bytes]:
        _check_target(self._target)
        try:
            self._handle = self._part.open("xb")
        except OSError as error:
            raise SealedFileError(f"cannot write {self._part}: {error.strerror or error}") from None
        return self._handle

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: object) -> None:
        assert self._handle is not None
        self._handle.close()
        if kind is None:
            try:
                self._part.rename(self._target)
                return
            except OSError as failure:
                self._part.unlink(missing_ok=True)
                raise SealedFileError(f"cannot write {self._target}: {failure}") from None
        self._part.unlink(missing_ok=True)


def check_open(source: Path, target: Path) -> SealedFile:
    """The checks :func:`open_file` makes before asking the KME for the key; returns what the header says.

    Raises
    ------
    SealedFileError
        If ``target`` exists or ``source`` is not a sealed file.
    """
    _check_target(target)
    return read_header(source)


def read_header(path: Path) -> SealedFile:
    """What a sealed file says about itself, checked for form only (nothing is authenticated yet).

    Raises
    ------
    SealedFileError
        If the file cannot be read or is not a sealed file.
    """
    with _opened(path) as source:
        return _header(path, source).info


def _header(path: Path, source: IO[bytes]) -> _Header:
    prefix = source.read(_PREFIX.size)
    if len(prefix) < _PREFIX.size or prefix[: len(MAGIC)] != MAGIC:
        raise SealedFileError(f"{path} is not a sealed file (it does not start with {MAGIC.decode()})")
    _, version, length = _PREFIX.unpack(prefix)
    if version != VERSION:
        raise SealedFileError(f"{path} is a sealed file of version {version}; this reads version {VERSION}")
    if length > MAX_HEADER_BYTES:
        raise SealedFileError(f"{path}: a header of {length} bytes exceeds {MAX_HEADER_BYTES}")
    header = source.read(length)
    if len(header) < length:
        raise SealedFileError(f"{path} is truncated inside its header")
    try:
        raw = orjson.loads(header)
        return _parse_header(path, raw, hashlib.sha256(prefix + header).digest())
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as error:
        raise SealedFileError(f"{path}: the header is malformed ({type(error).__name__}: {error})") from None


def _parse_header(path: Path, raw: dict[str, Any], digest: bytes) -> _Header:
    if raw["format"] != FORMAT or raw["aead"] != "AES-256-GCM":
        raise ValueError(f"format {raw['format']!r} with {raw['aead']!r} is not {FORMAT} with AES-256-GCM")
    mode, chunk_bytes, key_ids = raw["mode"], raw["chunk_bytes"], raw["key_IDs"]
    if mode not in ("qkd", "hybrid"):
        raise ValueError(f"unknown mode {mode!r}")
    if not isinstance(chunk_bytes, int) or not MIN_CHUNK_BYTES <= chunk_bytes <= MAX_CHUNK_BYTES:
        raise ValueError(f"chunk_bytes {chunk_bytes!r} is not {MIN_CHUNK_BYTES}..{MAX_CHUNK_BYTES}")
    if not isinstance(key_ids, list) or len(key_ids) != 1:
        raise ValueError("key_IDs must name one key")
    nonce, label = bytes.fromhex(raw["nonce"]), bytes.fromhex(raw["kdf"]["label"])
    if len(nonce) != 12 or raw["kdf"]["length"] != FILE_KEY_BYTES:
        raise ValueError("the nonce must be 12 bytes and the file key 32")
    info = SealedFile(
        path,
        mode,
        str(raw["master_SAE_ID"]),
        str(raw["slave_SAE_ID"]),
        uuid.UUID(key_ids[0]),
        str(raw["kdf"]["name"]),
        chunk_bytes,
        raw.get("recipient_key"),
    )
    if mode == "qkd":
        if raw["kdf"]["name"] != Kdf.HKDF_SHA256.value:
            raise ValueError(f"mode qkd derives with {Kdf.HKDF_SHA256.value}, not {raw['kdf']['name']!r}")
        return _Header(raw, digest, info, label, nonce)
    return _Header(
        raw,
        digest,
        info,
        label,
        nonce,
        _unb64(raw["ecdh_public"], "ecdh_public"),
        _unb64(raw["kem_ciphertext"], "kem_ciphertext"),
    )


def open_file(
    source: Path,
    target: Path,
    client: SaeClient,
    *,
    slave_sae_id: str,
    sealing_key: SealingKey | None = None,
) -> SealedFile:
    """Open a file sealed for ``slave_sae_id`` into ``target``, taking its key from the KME by key_ID.

    Everything that can be checked without the key is checked before the KME is asked (the KME hands a
    key over once). ``target`` is written as ``.part`` and renamed only once every chunk has passed.

    Raises
    ------
    SealedFileError
        If the file is not sealed for this SAE (or this sealing key), the KME does not give the key,
        or the file was changed or cut off.
    """
    _check_target(target)
    with _opened(source) as data:
        header = _header(source, data)
        info = header.info
        if info.slave_sae_id != slave_sae_id:
            raise SealedFileError(
                f"{source} was sealed for SAE {info.slave_sae_id}; this is {slave_sae_id}: only "
                f"{info.slave_sae_id} can open it"
            )
        hybrid = _hybrid_side(source, header, sealing_key)
        qkd = _take_key(source, client, info)
        file_key = _file_key(header, qkd, hybrid)
        aead = AESGCM(file_key)
        limit = info.chunk_bytes + _TAG
        data_bytes = index = 0
        with _Output(target) as out:
            while True:
                size_field = data.read(_CHUNK.size)
                if len(size_field) < _CHUNK.size:
                    raise SealedFileError(
                        f"{source} is truncated: it ends after chunk {index - 1} without its final chunk "
                        "(nothing was written)"
                    )
                (size,) = _CHUNK.unpack(size_field)
                if not _TAG <= size <= limit:
                    raise SealedFileError(f"{source}: chunk {index} announces {size} bytes, over {limit}")
                sealed = data.read(size)
                if len(sealed) < size:
                    raise SealedFileError(f"{source} is truncated inside chunk {index} (nothing was written)")
                plain, final = _open_chunk(source, aead, header, index, sealed)
                out.write(plain)
                data_bytes += len(plain)
                index += 1
                if final:
                    break
            if data.read(1):
                raise SealedFileError(f"{source} has data after its final chunk (nothing was written)")
    return dataclasses.replace(info, path=target, data_bytes=data_bytes, chunks=index)


def _open_chunk(source: Path, aead: AESGCM, header: _Header, index: int, sealed: bytes) -> tuple[bytes, bool]:
    nonce = _nonce(header.nonce, index)
    for final in (False, True):
        try:
            return aead.decrypt(nonce, sealed, _chunk_aad(header.digest, index, final)), final
        except InvalidTag:
            continue
    where = "the header or chunk 0" if index == 0 else f"chunk {index}"
    raise SealedFileError(
        f"{source}: {where} fails authentication: the file was changed after sealing, or cut and joined "
        "(nothing was written)"
    )


@dataclass(frozen=True)
class _HybridSide:
    key: SealingKey
    k1: bytes
    k2: bytes


def _hybrid_side(source: Path, header: _Header, sealing_key: SealingKey | None) -> _HybridSide | None:
    """The ECDH and ML-KEM secrets of a hybrid file (None in mode qkd), checked before any key is taken."""
    info = header.info
    if info.mode == "qkd":
        return None
    if sealing_key is None:
        raise SealedFileError(
            f"{source} is sealed with a hybrid key to recipient key {info.recipient_key}: give the private "
            "sealing key"
        )
    if sealing_key.public.fingerprint != info.recipient_key:
        raise SealedFileError(
            f"{source} is sealed to recipient key {info.recipient_key}, not to this sealing key "
            f"({sealing_key.public.fingerprint})"
        )
    params = sealing_key.params
    if header.raw["kdf"].get("cid") != params.cid:
        raise SealedFileError(f"{source}: the header's parameter set does not match the sealing key's")
    try:
        k1 = sealing_key.ecdh.exchange(header.ecdh_public)
        k2 = sealing_key.kem.decapsulate(header.kem_ciphertext)
    except HybridError as error:
        raise SealedFileError(f"{source}: the header's hybrid values are malformed: {error}") from None
    return _HybridSide(sealing_key, k1, k2)


def _take_key(source: Path, client: SaeClient, info: SealedFile) -> QkdKey:
    what = f"key {info.key_id} (sealed by {info.master_sae_id} for {info.slave_sae_id})"
    try:
        container = client.dec_keys(info.master_sae_id, [info.key_id])
    except SaeUnavailableError as error:
        raise SealedFileError(
            f"{source}: the KME cannot give {what} now ({error}); try again later"
        ) from None
    except (SaeBadRequestError, SaeUnauthorizedError) as error:
        raise SealedFileError(
            f"{source}: the KME refused {what} to this SAE ({error}); a sealed file opens once, and only "
            "at the SAE it was sealed for"
        ) from None
    except SaeClientError as error:
        raise SealedFileError(f"{source}: cannot get {what}: {error}") from None
    found = [key for key in container.keys if key.key_id == info.key_id]
    if not found:
        raise SealedFileError(f"{source}: the KME at {client.kme_url} did not return {what}")
    return found[0]


def _file_key(header: _Header, qkd: QkdKey, hybrid: _HybridSide | None) -> bytes:
    info = header.info
    context = _info(qkd.key_id, info.master_sae_id, info.slave_sae_id)
    if hybrid is None:
        return kdf(Kdf.HKDF_SHA256, qkd.key, header.label, context, FILE_KEY_BYTES)
    params = hybrid.key.params
    ma, mb = _hybrid_messages(
        params, header.label, header.ecdh_public, header.kem_ciphertext, hybrid.key.public
    )
    return cat_kdf(
        params.kdf,
        psk=qkd.key,
        k1=hybrid.k1,
        k2=hybrid.k2,
        ma=ma,
        mb=mb,
        info=context,
        label=header.label,
        length=FILE_KEY_BYTES,
    )
