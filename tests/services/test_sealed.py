"""Sealed files: what is sealed at one SAE opens only at its peer, once, and only unchanged and whole."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openqci.services import SaeClient
from openqci.services.sae_client import KeyContainer, QkdKey, SaeBadRequestError
from openqci.services.sealed import SealedFileError, SealingKey, open_file, read_header, seal_file
from tests.kms.harness import SAES_A, SAES_B
from tests.kms.servers import Served, serve_site

MASTER, SLAVE = SAES_A[0], SAES_B[0]


@dataclass
class TableKms:
    """Both KMEs in one table, as a client sees them: enc_keys makes a key, dec_keys hands it over once."""

    keys: dict[uuid.UUID, bytes] = field(default_factory=dict)
    kme_url: str = "https://table"

    def enc_keys(self, slave_sae_id: str, *, number: int = 1, size_bits: int | None = None) -> KeyContainer:
        key = QkdKey(uuid.uuid4(), os.urandom((size_bits or 256) // 8))
        self.keys[key.key_id] = key.key
        return KeyContainer((key,))

    def dec_keys(self, master_sae_id: str, key_ids: Sequence[uuid.UUID]) -> KeyContainer:
        if any(k not in self.keys for k in key_ids):
            raise SaeBadRequestError("dec_keys: HTTP 400: unknown key_ID", 400)
        return KeyContainer(tuple(QkdKey(k, self.keys.pop(k)) for k in key_ids))


def _seal(kms: object, source: Path, target: Path, **options: object) -> None:
    seal_file(source, target, kms, master_sae_id=MASTER, slave_sae_id=SLAVE, **options)  # type: ignore[arg-type]


def _open(kms: object, source: Path, target: Path, **options: object) -> None:
    open_file(source, target, kms, slave_sae_id=SLAVE, **options)  # type: ignore[arg-type]


def _files(tmp: Path, data: bytes) -> tuple[Path, Path, Path]:
    plain, sealed, opened = tmp / f"{uuid.uuid4()}.txt", tmp / "x.sealed", tmp / "x.out"
    for path in (sealed, opened):
        path.unlink(missing_ok=True)
    plain.write_bytes(data)
    return plain, sealed, opened


SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(st.binary(max_size=700), st.integers(16, 200))
def test_any_data_opens_as_it_was_sealed(tmp_path: Path, data: bytes, chunk_bytes: int) -> None:
    kms = TableKms()
    plain, sealed, opened = _files(tmp_path, data)
    _seal(kms, plain, sealed, chunk_bytes=chunk_bytes)
    _open(kms, sealed, opened)
    assert opened.read_bytes() == data
    assert read_header(sealed).chunks == 0  # the header alone says nothing about the body


@SETTINGS
@given(st.binary(min_size=1, max_size=300), st.data())
def test_any_byte_changed_or_cut_is_refused_and_nothing_written(
    tmp_path: Path, data: bytes, draw: st.DataObject
) -> None:
    kms = TableKms()
    plain, sealed, opened = _files(tmp_path, data)
    _seal(kms, plain, sealed, chunk_bytes=64)
    content = bytearray(sealed.read_bytes())
    if draw.draw(st.booleans()):
        position = draw.draw(st.integers(0, len(content) - 1))
        content[position] ^= draw.draw(st.integers(1, 255))
    else:
        del content[draw.draw(st.integers(0, len(content) - 1)) :]
    sealed.write_bytes(bytes(content))
    with pytest.raises(SealedFileError):
        _open(kms, sealed, opened)
    assert not opened.exists()
    assert not opened.with_name(opened.name + ".part").exists()


CHUNK_256, CHUNK_257 = b'"chunk_bytes":256', b'"chunk_bytes":257'


def test_the_refusals_say_what_is_wrong(tmp_path: Path) -> None:
    kms = TableKms()
    data = os.urandom(1000)
    cases = {
        "chunk 2 fails authentication": lambda b: b[:-300] + bytes([b[-300] ^ 1]) + b[-299:],
        "the header or chunk 0 fails authentication": lambda b: b.replace(
            b'"chunk_bytes":256', b'"chunk_bytes":257'
        ),
        "is truncated: it ends after chunk 2 without its final chunk": lambda b: b[: -(4 + 1000 - 768 + 16)],
        "is truncated inside chunk 3": lambda b: b[:-252] + (250).to_bytes(4, "big") + b[-248:],
        "has data after its final chunk": lambda b: b + b"\x00",
        "is not a sealed file": lambda b: b"x" + b,
    }
    for expected, change in cases.items():
        plain, sealed, opened = _files(tmp_path, data)
        _seal(kms, plain, sealed, chunk_bytes=256)
        sealed.write_bytes(change(sealed.read_bytes()))
        with pytest.raises(SealedFileError, match=expected):
            _open(kms, sealed, opened)
    plain, sealed, _ = _files(tmp_path, data)
    keys_before = len(kms.keys)
    with pytest.raises(SealedFileError, match="the recipient key is sae-b2's, but the file is for sae-b1"):
        _seal(kms, plain, sealed, recipient=SealingKey.generate("sae-b2").public)
    sealed.write_bytes(b"earlier")
    with pytest.raises(SealedFileError, match=r"x\.sealed exists: it is never overwritten"):
        _seal(kms, plain, sealed)
    assert sealed.read_bytes() == b"earlier"
    assert len(kms.keys) == keys_before  # both refused before a key was taken


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    site = serve_site(tmp_path)
    site.feed()
    yield site
    site.stop()


def _client(served: Served, sae: str, kme: str) -> SaeClient:
    url = f"https://127.0.0.1:{served.ports[kme]}"
    return SaeClient.from_pki(served.site.root / "pki", sae, url, attempts=1)


def test_hybrid_sealing_between_real_kmes_opens_once_at_the_peer_only(served: Served, tmp_path: Path) -> None:
    recipient = SealingKey.generate(SLAVE)
    other = SealingKey.generate(SLAVE)
    plain, sealed, opened = _files(tmp_path, os.urandom(5000))
    with _client(served, MASTER, "kme-a") as ask:
        _seal(ask, plain, sealed, recipient=recipient.public, chunk_bytes=1024)
    header = read_header(sealed)
    assert (header.mode, header.kdf, header.recipient_key) == (
        "hybrid",
        "CatKDF/HKDF-SHA256/X25519/ML-KEM-768",
        recipient.public.fingerprint,
    )
    with _client(served, SAES_B[1], "kme-b") as stranger:
        with pytest.raises(SealedFileError, match=f"sealed for SAE {SLAVE}; this is {SAES_B[1]}"):
            open_file(sealed, opened, stranger, slave_sae_id=SAES_B[1], sealing_key=recipient)
        # a stranger naming itself the slave gets past the header, but its KME owes it no such key
        with pytest.raises(SealedFileError, match=r"the KME refused key .* opens once, and only at the SAE"):
            open_file(sealed, opened, stranger, slave_sae_id=SLAVE, sealing_key=recipient)
    with _client(served, SLAVE, "kme-b") as take:
        with pytest.raises(SealedFileError, match="not to this sealing key"):
            _open(take, sealed, opened, sealing_key=other)
        with pytest.raises(SealedFileError, match="give the private sealing key"):
            _open(take, sealed, opened)
        _open(take, sealed, opened, sealing_key=recipient)
        assert opened.read_bytes() == plain.read_bytes()
        with pytest.raises(SealedFileError, match="opens once"):
            _open(take, sealed, tmp_path / "again", sealing_key=recipient)


def test_with_no_key_nothing_is_sealed(tmp_path: Path) -> None:
    site = serve_site(tmp_path)  # no key fed
    try:
        plain, sealed, _ = _files(tmp_path, b"secret")
        with _client(site, MASTER, "kme-a") as ask, pytest.raises(SealedFileError, match="fail closed"):
            _seal(ask, plain, sealed)
        assert list(tmp_path.glob("x.sealed*")) == []
    finally:
        site.stop()
