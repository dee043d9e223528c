"""``openqci sae`` in real processes against two real KMEs: keys by key_ID, and files sealed and opened."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from openqci.services import SaeClient
from openqci.services.sealed import seal_file
from tests.kms.harness import SAES_A, SAES_B
from tests.kms.servers import Served, serve_site

MASTER, SLAVE = SAES_A[0], SAES_B[0]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    site = serve_site(tmp_path)
    site.feed()
    yield site
    site.stop()


def openqci(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "openqci", *args], capture_output=True, text=True, timeout=60, check=False
    )


def sae(served: Served, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``openqci sae COMMAND ...`` as SAE ``name`` (kme-a serves the masters, kme-b the slaves)."""
    url = f"https://127.0.0.1:{served.ports['kme-a' if name in SAES_A else 'kme-b']}"
    return openqci("sae", *args, "--pki", str(served.site.root / "pki"), "--sae", name, "--kme", url)


def _ok(done: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert done.returncode == 0, done.stderr
    record: dict[str, object] = json.loads(done.stdout)
    return record


def _refused(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode != 0
    assert done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("openqci: error: ")
    return line


def test_get_key_and_get_key_with_id_give_the_same_keys(served: Served) -> None:
    given = _ok(sae(served, MASTER, "get-key", "--slave", SLAVE, "--number", "2", "--size", "256", "--json"))
    keys = given["keys"]
    assert isinstance(keys, list)
    assert len(keys) == 2
    taken = _ok(
        sae(served, SLAVE, "get-key-with-id", "--master", MASTER, *(k["key_ID"] for k in keys), "--json")
    )
    assert taken["keys"] == keys


@pytest.mark.parametrize("mode", ["qkd", "hybrid"])
def test_seal_and_open_round_trip(served: Served, tmp_path: Path, mode: str) -> None:
    plain = tmp_path / "report.pdf"
    plain.write_bytes(os.urandom(200_000))
    hybrid: list[str] = []
    opening: list[str] = []
    if mode == "hybrid":
        made = _ok(openqci("sae", "keygen", "--sae", SLAVE, "--out", str(tmp_path), "--json"))
        hybrid = ["--recipient-key", str(made["public_key"])]
        opening = ["--sealing-key", str(made["private_key"])]
        assert (Path(str(made["private_key"])).stat().st_mode & 0o777) == 0o600
    sealed = _ok(sae(served, MASTER, "seal", str(plain), "--slave", SLAVE, *hybrid, "--json"))
    assert (sealed["file"], sealed["mode"], sealed["chunks"]) == (str(plain) + ".sealed", mode, 4)
    plain.rename(tmp_path / "original")
    opened = _ok(sae(served, SLAVE, "open", str(sealed["file"]), *opening, "--json"))
    assert opened["file"] == str(plain)
    assert opened["key_IDs"] == sealed["key_IDs"]
    assert plain.read_bytes() == (tmp_path / "original").read_bytes()


def test_a_tampered_file_and_a_wrong_sae_are_refused(served: Served, tmp_path: Path) -> None:
    plain = tmp_path / "data.txt"
    plain.write_bytes(b"the board meets on Tuesday\n" * 100)
    url = f"https://127.0.0.1:{served.ports['kme-a']}"
    for name in ("wrong-sae.sealed", "tampered.sealed"):
        with SaeClient.from_pki(served.site.root / "pki", MASTER, url) as ask:
            seal_file(plain, tmp_path / name, ask, master_sae_id=MASTER, slave_sae_id=SLAVE)
    line = _refused(sae(served, SAES_B[1], "open", str(tmp_path / "wrong-sae.sealed")))
    assert f"was sealed for SAE {SLAVE}; this is {SAES_B[1]}: only {SLAVE} can open it" in line
    tampered = bytearray((tmp_path / "tampered.sealed").read_bytes())
    tampered[-40] ^= 0x20
    (tmp_path / "tampered.sealed").write_bytes(bytes(tampered))
    line = _refused(sae(served, SLAVE, "open", str(tmp_path / "tampered.sealed")))
    assert "chunk 0 fails authentication: the file was changed after sealing" in line
    assert not (tmp_path / "tampered").exists()
