"""A link engine feeding the KMEs of a running network: real processes started by ``openqci network up``.

A line of three KMEs where the first link runs the engine and the second the rate model: an SAE pair
across both gets identical keys; the engine link's KMEs hold only units cut from blocks the engine made
(its log names each block); an intercept-resend eavesdropper makes the engine abort its blocks, so no key
of theirs enters either KME, and the controller raises the QBER alarm.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openqci.services import SaeClient
from tests.network.test_launcher import ROOT, launched, openqci, wait_for

ENGINE_LINK = "kme1-kme2"


@pytest.fixture(scope="module")
def line3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    state_dir = tmp_path_factory.mktemp("engine-line3") / "state"
    yield from launched(ROOT / "scenarios" / "line3-engine.yaml", state_dir)


def stored_blocks(state_dir: Path, kme: str, link: str) -> set[str]:
    """Block IDs of the units of ``link`` in ``kme``'s store."""
    path = state_dir / "kmes" / kme / "keys.sqlite"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10.0) as conn:
        rows = conn.execute("SELECT DISTINCT block_id FROM units WHERE link_id = ?", (link,)).fetchall()
    return {row[0] for row in rows}


def engine_blocks(state_dir: Path) -> set[str]:
    """Block IDs the engine logged as made."""
    log = (state_dir / "logs" / f"engine-{ENGINE_LINK}.log").read_text()
    return set(re.findall(r"block ([0-9a-f-]{36}): \d+ key bits", log))


def engine_link(document: dict[str, object]) -> dict[str, object]:
    links = document["links"]
    assert isinstance(links, list)
    found: dict[str, object] = next(link for link in links if link["qkdl_id"] == ENGINE_LINK)
    return found


def test_an_sae_pair_across_an_engine_link_and_a_model_link_gets_identical_keys(line3: Path) -> None:
    # `network up` returns once every process serves, not once the engine has made key: on a fast machine
    # the request came first and found the engine link drained (1,024 bits for a relay of 1,280)
    def every_link_holds_key(document: dict[str, Any]) -> bool:
        return all((link["available_key_bits"] or 0) >= 4096 for link in document["links"])

    enough = wait_for(line3, every_link_holds_key, 60)
    assert every_link_holds_key(enough), enough["links"]
    urls = json.loads((line3 / "state.json").read_text())["kme_urls"]
    with (
        SaeClient.from_pki(line3 / "pki", "sae-west", urls["kme1"]) as master,
        SaeClient.from_pki(line3 / "pki", "sae-east", urls["kme3"]) as slave,
    ):
        got = master.enc_keys("sae-east", number=4, size_bits=256)
        assert got.extension["qci_routes"]["kme3"] == ["kme1", "kme2", "kme3"]
        assert slave.dec_keys("sae-west", [k.key_id for k in got.keys]).keys == got.keys


def test_the_engine_links_kmes_hold_only_blocks_the_engine_made(line3: Path) -> None:
    document = wait_for(line3, lambda d: all(n > 2 for n in engine_link(d)["blocks_by_end"].values()))
    link = engine_link(document)
    assert link["qkdl_status"] == "up"
    assert 0 < link["eskr_bps"] <= link["skr_bps"]
    made = engine_blocks(line3)
    at_a, at_b = stored_blocks(line3, "kme1", ENGINE_LINK), stored_blocks(line3, "kme2", ENGINE_LINK)
    assert at_a
    assert at_a <= made
    assert at_b <= made
    assert len(at_a & at_b) >= min(len(at_a), len(at_b)) - 1  # one block may be on its way to the other


@pytest.mark.slow  # real processes started, attacked or killed for many seconds (CI runs the slow suite too)
def test_intercept_resend_aborts_the_engine_blocks_and_raises_the_qber_alarm(line3: Path) -> None:
    done = openqci("network", "attack", ENGINE_LINK, "--intercept-resend", "0.5", "--state-dir", str(line3))
    assert done.returncode == 0, done.stderr
    document = wait_for(
        line3,
        lambda d: any(a["kind"] == "qber-high" for a in engine_link(d)["alarms"]),  # type: ignore[union-attr]
        timeout_s=30.0,
    )
    assert any(a["kind"] == "qber-high" for a in engine_link(document)["alarms"])  # type: ignore[union-attr]
    time.sleep(2.0)  # blocks made before the attack have reached both ends
    before = {kme: stored_blocks(line3, kme, ENGINE_LINK) for kme in ("kme1", "kme2")}
    log = line3 / "logs" / f"engine-{ENGINE_LINK}.log"
    aborted_before = log.read_text().count("block aborted: qber-above-threshold")
    time.sleep(4.0)
    assert log.read_text().count("block aborted: qber-above-threshold") > aborted_before
    after = {kme: stored_blocks(line3, kme, ENGINE_LINK) for kme in ("kme1", "kme2")}
    assert after == before, "a block made under attack reached a KME"
    cleared = openqci("network", "attack", ENGINE_LINK, "--clear", "--state-dir", str(line3))
    assert cleared.returncode == 0, cleared.stderr
    wait_for(line3, lambda d: stored_blocks(line3, "kme1", ENGINE_LINK) != before["kme1"], timeout_s=30.0)
    new = stored_blocks(line3, "kme1", ENGINE_LINK) - before["kme1"]
    assert new, "the engine made no key after the eavesdropper left"
    assert new <= engine_blocks(line3)
