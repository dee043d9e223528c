"""Key files: the producer's format read at both ends of a link, every refusal, and ingestion exactly once.

The pairs are written here by :func:`write_pair`, an implementation of the producer's side written from
the format's description (key file first, sidecar last under a temporary name), not with the reader's
code, so a drift between the two shows.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openqci.keysource import KeyBlock, KeySource
from openqci.kms.config import load_config
from openqci.kms.crypto import MasterKey
from openqci.kms.errors import KeyFileError, StoreError
from openqci.kms.key_feed import Feeder, folder_link
from openqci.kms.key_files import KeyFileSource, Refusal, Sidecar, check_pair, parse_sidecar
from openqci.kms.sqlite_store import SqliteKeyStore
from openqci.kms.units import unit_key_id
from tests.kms.conftest import make_block
from tests.kms.harness import make_site
from tests.kms.servers import serve_site

UNIT_BITS = 256


def sidecar_of(block: KeyBlock, **changes: Any) -> dict[str, Any]:
    """The sidecar a producer writes for ``block``; ``changes`` replace fields (None drops one)."""
    document: dict[str, Any] = {
        "link_id": block.link_id,
        "block_id": str(block.block_id),
        "size_bits": block.size_bits,
        "qber": block.qber,
        "epsilon": block.epsilon,
        "sha256": hashlib.sha256(block.bits).hexdigest(),
        "created_at": block.created_at.isoformat(),
    }
    document.update(changes)
    return {k: v for k, v in document.items() if v is not None}


def write_pair(
    folder: Path,
    block: KeyBlock,
    name: str | None = None,
    *,
    sidecar: bytes | None = None,
    key: bytes | None = None,
) -> str:
    """Write a pair as a producer does: the key file, synced, then the sidecar renamed into place."""
    name = name or str(block.block_id)
    with (folder / f"{name}.key").open("wb") as out:
        out.write(block.bits if key is None else key)
        out.flush()
        os.fsync(out.fileno())
    temporary = folder / f".{name}.json.tmp"
    temporary.write_bytes(json.dumps(sidecar_of(block)).encode() if sidecar is None else sidecar)
    os.replace(temporary, folder / f"{name}.json")
    return name


def shared_blocks(count: int, size_bits: int = 4096) -> list[KeyBlock]:
    """Blocks as a link hands them to both ends, completed a second apart."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        KeyBlock(
            "link-ab",
            uuid.uuid4(),
            os.urandom(size_bits // 8),
            size_bits,
            0.01 + i / 100,
            1e-10,
            start + timedelta(seconds=i),
        )
        for i in range(count)
    ]


def files_in(folder: Path) -> list[str]:
    """The names in ``folder`` a reader would care about (not its lock file)."""
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def source(folder: Path, **options: Any) -> KeyFileSource:
    return KeyFileSource(folder, "link-ab", unit_bits=UNIT_BITS, **options)


def _view(block: KeyBlock) -> tuple[Any, ...]:
    return (
        block.link_id,
        block.block_id,
        block.bits,
        block.size_bits,
        block.qber,
        block.epsilon,
        block.created_at,
    )


# -- both ends of a link ----------------------------------------------------------------------------------


def test_both_ends_read_the_same_blocks_in_the_same_order(tmp_path: Path) -> None:
    blocks = shared_blocks(6)
    folders = {end: tmp_path / end for end in ("kme-a", "kme-b")}
    for folder in folders.values():
        folder.mkdir()
        for number, block in enumerate(blocks):
            write_pair(folder, block, f"block-{number:04d}")
    seen = {}
    for end, folder in folders.items():
        with source(folder) as reader:
            assert isinstance(reader, KeySource)
            seen[end] = [_view(b) for b in reader.blocks_due(time.time())]
            assert reader.blocks_due(time.time()) == []  # each block once
            state = reader.state()
        assert state.up
        assert state.blocks == 6
        assert state.qber == pytest.approx(0.06)
        assert state.skr_bps == pytest.approx(5 * 4096 / 5.0)  # created a second apart
        with source(folder) as again:  # a restart returns what is still there, in the same order
            assert [_view(b) for b in again.blocks_due(time.time())] == seen[end]
    assert seen["kme-a"] == seen["kme-b"] == [_view(b) for b in blocks]


def test_a_key_file_without_its_sidecar_is_left_alone(tmp_path: Path) -> None:
    block = make_block("link-ab", 4096)
    (tmp_path / "writing.key").write_bytes(block.bits[:100])
    (tmp_path / ".writing.json.tmp").write_text("{")  # the producer's sidecar, not renamed yet
    with source(tmp_path) as reader:
        scan = reader.scan()
    assert scan.pairs == []
    assert scan.refused == []
    assert files_in(tmp_path) == ["writing.key"]


def test_one_reader_per_folder(tmp_path: Path) -> None:
    with source(tmp_path), pytest.raises(KeyFileError, match="another reader"):
        source(tmp_path)
    with source(tmp_path):  # released on close
        pass
    with pytest.raises(KeyFileError, match="does not exist"):
        source(tmp_path / "nowhere")


# -- refusals ---------------------------------------------------------------------------------------------


def _text(block: KeyBlock, **changes: Any) -> bytes:
    return json.dumps(sidecar_of(block, **changes)).encode()


def _raw(block: KeyBlock, field: str, literal: str) -> bytes:
    """The sidecar with ``field`` written as the raw JSON ``literal`` (NaN, a duplicate, ...)."""
    document = sidecar_of(block)
    document[field] = "@@"
    return json.dumps(document).replace('"@@"', literal).encode()


def _flipped(bits: bytes) -> bytes:
    return bytes([bits[0] ^ 0x01]) + bits[1:]


# name: (sidecar bytes, key bytes, or None for the producer's own; the reason's expected words)
REFUSALS: dict[str, tuple[Any, Any, str]] = {
    "malformed JSON": (lambda b: _text(b)[:-5], None, "sidecar is not valid JSON"),
    "not UTF-8": (lambda b: b"\xff\xfe\x00{", None, "sidecar is not valid JSON"),
    "not an object": (lambda b: b"[1, 2]", None, "must be a JSON object, not an array"),
    "missing field": (lambda b: _text(b, sha256=None), None, "sidecar lacks sha256"),
    "extra field": (lambda b: _text(b, colour="blue"), None, "unknown fields 'colour'"),
    "field twice": (lambda b: _raw(b, "qber", '0.01, "qber": 0.02'), None, "names 'qber' more than once"),
    "size as a string": (
        lambda b: _text(b, size_bits="4096"),
        None,
        "size_bits must be an integer, not a string",
    ),
    "size as a float": (
        lambda b: _text(b, size_bits=4096.0),
        None,
        "size_bits must be an integer, not a number",
    ),
    "size zero": (lambda b: _text(b, size_bits=0), None, "size_bits 0 is outside"),
    "qber as a boolean": (lambda b: _text(b, qber=True), None, "qber must be a number, not a boolean"),
    "qber NaN": (lambda b: _raw(b, "qber", "NaN"), None, "NaN is not a JSON number"),
    "qber above 0.5": (lambda b: _text(b, qber=0.51), None, "qber 0.51 is outside [0, 0.5]"),
    "qber negative": (lambda b: _text(b, qber=-0.01), None, "qber -0.01 is outside [0, 0.5]"),
    "epsilon zero": (lambda b: _text(b, epsilon=0), None, "epsilon 0.0 is outside (0, 1)"),
    "epsilon one": (lambda b: _text(b, epsilon=1.0), None, "epsilon 1.0 is outside (0, 1)"),
    "link empty": (lambda b: _text(b, link_id=""), None, "link_id must be a non-empty printable string"),
    "link as a number": (lambda b: _text(b, link_id=7), None, "link_id must be a string, not a number"),
    "block_id not a UUID": (lambda b: _text(b, block_id="block-7"), None, "block_id 'block-7' is not a UUID"),
    "sha256 not hex": (lambda b: _text(b, sha256="xyz"), None, "sha256 must be 64 hexadecimal digits"),
    "created_at not a time": (lambda b: _text(b, created_at="yesterday"), None, "is not an ISO 8601 time"),
    "created_at naive": (lambda b: _text(b, created_at="2026-01-01T00:00:00"), None, "names no time zone"),
    "another link": (lambda b: _text(b, link_id="link-zz"), None, "link 'link-zz' is not configured here"),
    "no whole units": (
        lambda b: _text(b, size_bits=4096 + 8, sha256=hashlib.sha256(b.bits + b"\0").hexdigest()),
        lambda b: b.bits + b"\0",
        "size_bits 4104 is not a multiple of the KME's unit size (256 bits)",
    ),
    "truncated key": (
        None,
        lambda b: b.bits[:-1],
        "key file truncated: 511 bytes where size_bits 4096 needs 512",
    ),
    "key too long": (None, lambda b: b.bits + b"\0", "key file too long: 513 bytes"),
    "digest mismatch": (None, lambda b: _flipped(b.bits), "sha256 of the key file is"),
    "key missing": (None, "missing", "key file bad.key is missing"),
    "key a symbolic link": (None, "link", "bad.key is a symbolic link"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_each_bad_pair_is_moved_aside_with_its_reason(tmp_path: Path, case: str) -> None:
    make_sidecar, make_key, expected = REFUSALS[case]
    good, bad = make_block("link-ab", 4096), make_block("link-ab", 4096)
    write_pair(tmp_path, good, "good")
    key = make_key(bad) if callable(make_key) else None
    write_pair(tmp_path, bad, "bad", sidecar=make_sidecar(bad) if make_sidecar else None, key=key)
    if make_key == "missing":
        (tmp_path / "bad.key").unlink()
    elif make_key == "link":
        (tmp_path / "elsewhere.bin").write_bytes(bad.bits)
        (tmp_path / "bad.key").unlink()
        (tmp_path / "bad.key").symlink_to(tmp_path / "elsewhere.bin")
    with source(tmp_path) as reader:
        scan = reader.scan()
        state = reader.state()
        assert reader.scan().refused == []  # a refused pair is looked at once
    assert [p.block.block_id for p in scan.pairs] == [good.block_id]
    [refusal] = scan.refused
    assert refusal.name == "bad"
    assert expected in refusal.reason, refusal.reason
    rejected = tmp_path / "rejected"
    assert (rejected / "bad.reason").read_text() == refusal.reason + "\n"
    assert "\n" not in refusal.reason
    assert (rejected / "bad.json").exists()
    assert os.path.lexists(rejected / "bad.key") == (make_key != "missing")
    assert not [n for n in files_in(tmp_path) if n.startswith("bad.")]
    assert not state.up
    assert "bad" in state.reason
    assert expected in state.reason


def test_a_block_in_two_pairs_is_refused_the_second_time(tmp_path: Path) -> None:
    block = make_block("link-ab", 4096)
    write_pair(tmp_path, block, "first")
    write_pair(tmp_path, block, "second")
    with source(tmp_path) as reader:
        scan = reader.scan()
    assert [p.name for p in scan.pairs] == ["first"]
    assert scan.refused == [Refusal("second", f"block_id {block.block_id} is also in pair first")]


def test_a_kill_in_the_middle_of_a_refusal_is_finished_with_the_first_reason(tmp_path: Path) -> None:
    block = make_block("link-ab", 4096)
    write_pair(tmp_path, block, "bad", key=block.bits[:10])
    (tmp_path / "rejected").mkdir()
    (tmp_path / "rejected" / "bad.reason").write_text("key file truncated: 10 bytes\n")
    os.replace(tmp_path / "bad.key", tmp_path / "rejected" / "bad.key")  # killed before the sidecar moved
    with source(tmp_path) as reader:
        scan = reader.scan()
    assert scan.refused == [Refusal("bad", "key file truncated: 10 bytes")]
    assert files_in(tmp_path / "rejected") == ["bad.json", "bad.key", "bad.reason"]
    assert files_in(tmp_path) == ["rejected"]


# -- the format, as properties ----------------------------------------------------------------------------

sidecars = st.builds(
    Sidecar,
    link_id=st.text(min_size=1, max_size=40).filter(str.isprintable),
    block_id=st.uuids(),
    size_bits=st.integers(1, 1 << 30),
    qber=st.floats(0.0, 0.5),
    epsilon=st.floats(0.0, 1.0, exclude_min=True, exclude_max=True),
    sha256=st.binary(min_size=32, max_size=32).map(bytes.hex),
    created_at=st.none() | st.datetimes(timezones=st.just(UTC)),
)


@settings(max_examples=200, deadline=None)
@given(sidecar=sidecars)
def test_a_valid_sidecar_reads_back_as_written(sidecar: Sidecar) -> None:
    assert parse_sidecar(json.dumps(sidecar.document()).encode()) == sidecar


@settings(max_examples=200, deadline=None)
@given(key=st.binary(min_size=1, max_size=512), data=st.data())
def test_any_corrupted_byte_of_the_key_file_is_refused(key: bytes, data: st.DataObject) -> None:
    sidecar = Sidecar("link-ab", uuid.uuid4(), 8 * len(key), 0.02, 1e-9, hashlib.sha256(key).hexdigest())
    assert check_pair(sidecar, key, link_id="link-ab", unit_bits=8).bits == key
    where = data.draw(st.integers(0, len(key) - 1))
    change = data.draw(st.integers(1, 255))
    corrupted = key[:where] + bytes([key[where] ^ change]) + key[where + 1 :]
    with pytest.raises(KeyFileError, match="sha256 of the key file"):
        check_pair(sidecar, corrupted, link_id="link-ab", unit_bits=8)


# -- ingestion exactly once -------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteKeyStore]:
    opened = SqliteKeyStore(tmp_path / "kme.sqlite", MasterKey.generate())
    yield opened
    opened.close()


def units_per_block(store_path: Path) -> dict[str, int]:
    """Units stored for each block, read straight from the SQLite file."""
    with closing(sqlite3.connect(store_path)) as db:
        return dict(db.execute("SELECT block_id, count(*) FROM units GROUP BY block_id").fetchall())


def test_feeding_stores_each_block_once_and_removes_its_files(tmp_path: Path, store: SqliteKeyStore) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    blocks = shared_blocks(5, 8192)
    for block in blocks:
        write_pair(folder, block)
    with source(folder, batch=2) as reader:  # a small batch: the feeder looks again until all are in
        report = Feeder(reader, store, unit_bits=UNIT_BITS, parity=0).once()
    assert len(report.ingested) == 5
    assert report.units_added == 5 * 32
    assert report.refused == []
    assert files_in(folder) == []
    assert units_per_block(tmp_path / "kme.sqlite") == {str(b.block_id): 32 for b in blocks}
    assert store.available_units("link-ab") == 5 * 16  # the even half is this end's
    for block in blocks:  # the same pairs dropped again: taken and removed, nothing added twice
        write_pair(folder, block)
    with source(folder) as reader:
        again = Feeder(reader, store, unit_bits=UNIT_BITS, parity=0).once()
    assert len(again.ingested) == 5
    assert again.units_added == 0
    assert files_in(folder) == []
    assert units_per_block(tmp_path / "kme.sqlite") == {str(b.block_id): 32 for b in blocks}


def test_a_kill_after_the_commit_leaves_files_the_next_run_adds_nothing_for(
    tmp_path: Path, store: SqliteKeyStore
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    blocks = shared_blocks(4)
    for block in blocks:
        write_pair(folder, block)
    with source(folder) as reader:  # the first run commits two blocks and is killed before removing
        for pair in reader.scan().pairs[:2]:
            store.add_block(pair.block, unit_bits=UNIT_BITS, parity=0)
    with source(folder) as reader:  # killed during the removal of a third: marked, half wiped
        third = reader.scan().pairs[2]
        store.add_block(third.block, unit_bits=UNIT_BITS, parity=0)
    os.replace(folder / f"{third.name}.json", folder / f"{third.name}.ingested")
    with (folder / f"{third.name}.key").open("r+b") as half:
        half.write(bytes(100))
    with source(folder) as reader:
        report = Feeder(reader, store, unit_bits=UNIT_BITS, parity=0).once()
    assert [i.units_added for i in report.ingested] == [0, 0, 16]  # the marked pair is not read again
    assert report.refused == []
    assert files_in(folder) == []
    assert units_per_block(tmp_path / "kme.sqlite") == {str(b.block_id): 16 for b in blocks}


def test_key_material_is_overwritten_before_the_file_is_unlinked(
    tmp_path: Path, store: SqliteKeyStore
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    block = make_block("link-ab", 4096)
    name = write_pair(folder, block)
    os.link(folder / f"{name}.key", tmp_path / "same-inode")  # sees what happens to the file's blocks
    with source(folder) as reader:
        Feeder(reader, store, unit_bits=UNIT_BITS, parity=0).once()
    assert (tmp_path / "same-inode").read_bytes() == bytes(512)


class _FailingStore:
    def add_block(
        self, block: KeyBlock, *, unit_bits: int, parity: int, max_free_units: int | None = None
    ) -> int:
        raise sqlite3.OperationalError("database is locked")


def test_a_block_the_store_refuses_keeps_its_files(tmp_path: Path) -> None:
    block = make_block("link-ab", 4096)
    name = write_pair(tmp_path, block)
    with source(tmp_path) as reader:
        feeder = Feeder(reader, _FailingStore(), unit_bits=UNIT_BITS, parity=0)  # type: ignore[arg-type]
        with pytest.raises(StoreError, match=r"database is locked.*kept for the next run"):
            feeder.once()
        assert [p.name for p in reader.scan().pairs] == [name]  # returned again
    assert files_in(tmp_path) == [f"{name}.json", f"{name}.key"]


def test_the_link_and_parity_come_from_the_configuration(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    assert folder_link(load_config(site.config_paths["kme-a"]), None) == ("link-ab", 0)
    assert folder_link(load_config(site.config_paths["kme-b"]), "link-ab") == ("link-ab", 1)
    with pytest.raises(KeyFileError, match="'link-zz' is not configured at kme-a"):
        folder_link(load_config(site.config_paths["kme-a"]), "link-zz")


# -- the command ------------------------------------------------------------------------------------------


def openqci(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "openqci", *args], capture_output=True, text=True, timeout=60, check=False
    )


def watching(config: Path, folder: Path) -> subprocess.Popen[str]:
    """``openqci kms feed --watch`` as its own process, polling every 20 ms, summary as JSON."""
    command = ["kms", "feed", "--config", str(config), "--from", str(folder), "--watch", "--json"]
    return subprocess.Popen(
        [sys.executable, "-m", "openqci", *command, "--interval", "0.02"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop(process: subprocess.Popen[str]) -> dict[str, Any]:
    """SIGTERM a watching feeder: it exits 0 and prints its summary."""
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    summary: dict[str, Any] = json.loads(out)
    return summary


def wait_until_taken(*folders: Path, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while any(files_in(f) for f in folders):
        assert time.monotonic() < deadline, [files_in(f) for f in folders]
        time.sleep(0.02)


def test_feed_once_reports_what_it_ingested_and_refused(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    folder = tmp_path / "in"
    folder.mkdir()
    blocks = shared_blocks(3)
    for block in blocks:
        write_pair(folder, block, f"block-{block.created_at:%H%M%S}")
    write_pair(folder, make_block("link-ab", 4096), "bad", key=b"short")
    config = str(site.config_paths["kme-a"])
    done = openqci("kms", "feed", "--config", config, "--from", str(folder), "--json")
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["kme_id"] == "kme-a"
    assert record["link_id"] == "link-ab"
    assert (record["files_ingested"], record["units_added"]) == (3, 48)
    assert record["ingested"] == [
        {"file": f"block-{b.created_at:%H%M%S}", "block_id": str(b.block_id), "units_added": 16}
        for b in blocks
    ]
    assert record["refused"] == [
        {"file": "bad", "reason": "key file truncated: 5 bytes where size_bits 4096 needs 512"}
    ]
    assert "bad" in done.stderr  # refusals are logged as well
    assert files_in(folder) == ["rejected"]
    write_pair(folder, make_block("link-ab", 4096))
    text = openqci("kms", "feed", "--config", config, "--from", str(folder))
    assert text.returncode == 0, text.stderr
    assert "1 files ingested, 16 units added, 0 refused" in text.stdout


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing folder", "does not exist"),
        ("missing configuration", "cannot read"),
        ("bad configuration", "unit_bits"),
        ("unknown link", "'link-zz' is not configured at kme-a"),
        ("zero interval", "--interval"),
    ],
)
def test_feed_refuses_bad_input_in_one_line(tmp_path: Path, case: str, expected: str) -> None:
    site = make_site(tmp_path)
    folder = tmp_path / "in"
    folder.mkdir()
    config = site.config_paths["kme-a"]
    args = ["--config", str(config), "--from", str(folder)]
    if case == "missing folder":
        args[3] = str(tmp_path / "nowhere")
    elif case == "missing configuration":
        args[1] = str(tmp_path / "nowhere.yaml")
    elif case == "bad configuration":
        config.write_text(config.read_text() + "unit_bits: 100\n")
    elif case == "unknown link":
        args += ["--link", "link-zz"]
    else:
        args += ["--watch", "--interval", "0"]
    done = openqci("kms", "feed", *args)
    assert done.returncode != 0
    assert done.stderr.startswith("openqci: error:"), done.stderr
    assert expected in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr  # one line, no traceback
    assert done.stdout == ""


def test_two_served_kmes_fed_from_their_folders_hand_an_sae_pair_identical_keys(tmp_path: Path) -> None:
    served = serve_site(tmp_path)
    folders = {name: tmp_path / f"from-{name}" for name in ("kme-a", "kme-b")}
    feeders = {}
    try:
        for name, folder in folders.items():  # beside the running servers, on the same SQLite files
            folder.mkdir()
            feeders[name] = watching(served.site.config_paths[name], folder)
        blocks = shared_blocks(8, 8192)
        delivered: dict[str, str] = {}
        master = httpx.Client(
            base_url=f"https://127.0.0.1:{served.ports['kme-a']}", verify=served.context("sae-a1")
        )
        with master:
            for block in blocks:  # the link hands each block to both ends while the SAE asks for keys
                for folder in folders.values():
                    write_pair(folder, block, f"block-{block.block_id}")
                answer = master.post("/api/v1/keys/sae-b1/enc_keys", json={"number": 2, "size": 256})
                assert answer.status_code in (200, 503), answer.text
                if answer.status_code == 200:
                    delivered |= {k["key_ID"]: k["key"] for k in answer.json()["keys"]}
            wait_until_taken(*folders.values())
            answer = master.post("/api/v1/keys/sae-b1/enc_keys", json={"number": 16, "size": 512})
            assert answer.status_code == 200, answer.text
            delivered |= {k["key_ID"]: k["key"] for k in answer.json()["keys"]}
        for feeder in feeders.values():
            summary = stop(feeder)
            assert summary == {
                "kme_id": summary["kme_id"],
                "link_id": "link-ab",
                "folder": summary["folder"],
                "files_ingested": 8,
                "units_added": 256,
                "held_pool_full": False,
                "refused": [],
            }  # a watch's summary counts, it does not list every file
        slave = httpx.Client(
            base_url=f"https://127.0.0.1:{served.ports['kme-b']}", verify=served.context("sae-b1")
        )
        with slave:
            ids = [{"key_ID": key_id} for key_id in delivered]
            answer = slave.post("/api/v1/keys/sae-a1/dec_keys", json={"key_IDs": ids})
        assert answer.status_code == 200, answer.text
        assert {k["key_ID"]: k["key"] for k in answer.json()["keys"]} == delivered
        units = {
            str(unit_key_id(b.block_id, i)): b.bits[32 * i : 32 * (i + 1)] for b in blocks for i in range(32)
        }
        for key_id, key in delivered.items():  # each key starts with the unit its ID names, from the files
            assert base64.b64decode(key)[:32] == units[key_id]
    finally:
        for feeder in feeders.values():
            if feeder.poll() is None:
                feeder.kill()
                feeder.communicate()
        served.stop()


def _produce(folder: Path, blocks: list[KeyBlock], rng: random.Random) -> None:
    """A device writing blocks one after another; each key file lies alone a moment before its sidecar."""
    for block in blocks:
        (folder / f"{block.block_id}.key").write_bytes(block.bits)
        time.sleep(rng.uniform(0.0, 0.05))
        temporary = folder / f".{block.block_id}.json.tmp"
        temporary.write_text(json.dumps(sidecar_of(block)))
        os.replace(temporary, folder / f"{block.block_id}.json")
        time.sleep(rng.uniform(0.0, 0.05))


def _no_partial_block(store_path: Path, blocks: list[KeyBlock]) -> None:
    expected = {str(b.block_id): b.size_bits // UNIT_BITS for b in blocks}
    for block_id, count in units_per_block(store_path).items():
        assert count == expected[block_id], f"block {block_id} holds {count} of {expected[block_id]} units"


@pytest.mark.slow  # real processes started, attacked or killed for many seconds (CI runs the slow suite too)
def test_a_feeder_killed_at_random_moments_stores_every_block_exactly_once(tmp_path: Path) -> None:
    rng = random.Random(20261206)
    site = make_site(tmp_path)
    config = load_config(site.config_paths["kme-a"])
    assert config.store.sqlite is not None
    folder = tmp_path / "in"
    folder.mkdir()
    blocks = [make_block("link-ab", rng.choice([256, 2048, 8192])) for _ in range(460)]
    for block in blocks[:400]:
        write_pair(folder, block)
    producer = threading.Thread(target=_produce, args=(folder, blocks[400:], rng))
    producer.start()
    left_behind = []
    try:
        for _ in range(6):
            waiting = {n for n in files_in(folder) if n.endswith(".json")}
            feeder = watching(site.config_paths["kme-a"], folder)
            deadline = time.monotonic() + 20
            while waiting <= set(files_in(folder)) and time.monotonic() < deadline:
                time.sleep(0.002)  # until it has started taking files
            time.sleep(rng.uniform(0.0, 0.03))
            feeder.kill()
            feeder.communicate()
            left_behind.append(len(files_in(folder)))
            _no_partial_block(config.store.sqlite, blocks)
    finally:
        producer.join()
    assert sum(1 for left in left_behind if left) >= 4, (
        f"killed after the feeder had taken all: {left_behind}"
    )
    feeder = watching(site.config_paths["kme-a"], folder)
    wait_until_taken(folder)
    assert stop(feeder)["refused"] == []
    assert files_in(folder) == []  # no file left, nothing refused: no rejected/ folder either
    assert units_per_block(config.store.sqlite) == {str(b.block_id): b.size_bits // UNIT_BITS for b in blocks}
    master_key = MasterKey.from_file(config.master_key_file)
    bits = {str(b.block_id): b.bits for b in blocks}
    with closing(sqlite3.connect(config.store.sqlite)) as db:
        rows = db.execute("SELECT unit_id, block_id, idx, nonce, material FROM units").fetchall()
    for unit_id, block_id, index, nonce, material in rows:  # and the stored units hold the files' bits
        assert unit_id == str(unit_key_id(uuid.UUID(block_id), index))
        assert (
            master_key.open(nonce, material, unit_id.encode())
            == bits[block_id][32 * index : 32 * (index + 1)]
        )


# -- the documentation's example --------------------------------------------------------------------------

DEVICES_DOC = Path(__file__).resolve().parents[2] / "docs" / "devices.md"


def _example(marker: str) -> str:
    """The shell block that follows ``<!-- example: MARKER -->`` in docs/devices.md."""
    after = DEVICES_DOC.read_text().split(f"<!-- example: {marker} -->", 1)[1]
    found = re.match(r"\s*```sh\n(.*?)\n```\n", after, re.DOTALL)
    assert found is not None, f"no shell block after the {marker!r} marker"
    return found.group(1)


def test_the_worked_example_of_the_key_files_section_runs(tmp_path: Path) -> None:
    script = f'openqci() {{ "{sys.executable}" -m openqci "$@"; }}\n{_example("key files")}'
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    [line] = [text for text in done.stdout.splitlines() if text.startswith('{"kme_id"')]
    record = json.loads(line)
    reason = "key file truncated: 100 bytes where size_bits 1024 needs 128"
    assert (record["files_ingested"], record["units_added"]) == (1, 256)
    assert record["refused"] == [{"file": "short", "reason": reason}]
    assert f"\n{reason}\n" in done.stdout  # what `cat incoming/rejected/short.reason` shows
    assert "0 files ingested, 0 units added, 0 refused" in done.stdout  # the second run
    assert files_in(tmp_path / "incoming") == ["rejected"]
    assert units_per_block(tmp_path / "kme-a.sqlite") == {"6b1f3c8e-4a2d-4f7e-9c51-2d8e0a7b3f14": 256}
