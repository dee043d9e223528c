"""The operations view of one launched network: metrics scraped, events logged, the dashboard in a browser.

One network (the six-KME mesh on the rate model) is launched for the whole module, since a launch costs
seconds; the tests run in file order: the scrape first, on a quiet network, then the event logs (an attack
and a cut on two links, each cleared at the end), then the browser (an attack and a cut on two others).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from openqci.network.launcher import attack
from openqci.network.statedir import StateDir
from openqci.ops.dashboard_address import dashboard_url
from tests.network.test_launcher import ROOT, openqci, processes_of, sae_client
from tests.ops.chromium import Chromium, chromium_binary


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The six-KME mesh on the rate model, with an SAE at n1 (a neighbour of alice) for direct keys.

    The intake cap is low (16 kbit/s per link) so that delivering a few hundred keys visibly drains a store.
    """
    root = tmp_path_factory.mktemp("mesh")
    document = yaml.safe_load((ROOT / "scenarios" / "mesh.yaml").read_text())
    document["saes"].append({"name": "sae-n1", "kme": "n1"})
    scenario = root / "mesh.yaml"
    scenario.write_text(yaml.safe_dump(document))
    state_dir = root / "state"
    try:
        done = openqci("network", "up", str(scenario), "--state-dir", str(state_dir), "--intake-cap", "16384")
        assert done.returncode == 0, done.stderr + done.stdout
        controller = json.loads((state_dir / "state.json").read_text())["controller_url"]
        assert f"dashboard: {controller}/dashboard/?token=" in done.stdout  # `network up` names the page
        yield state_dir
    finally:
        if (state_dir / "state.json").exists():
            openqci("network", "down", "--state-dir", str(state_dir))
        for pid in processes_of(state_dir):
            os.kill(pid, 9)


def documented(process: str) -> set[str]:
    """The metric names docs/metrics.md lists for ``process`` (``KME``, ``controller`` or ``engine``)."""
    rows = re.findall(
        r"^\| `(openqci_\w+)` \|[^\n]*\| (KME|controller|engine) \|",
        (ROOT / "docs" / "metrics.md").read_text(),
        re.M,
    )
    return {name for name, owner in rows if owner == process}


def scrape(response: httpx.Response) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Samples by (name, sorted labels), parsed by prometheus_client's text parser; family names too."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(response.text):
        samples[(family.name, ())] = samples.get((family.name, ()), 0.0)
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def names(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> set[str]:
    found = {name for name, _ in samples}
    return found | {f"{name}_total" for name in found}


def value(samples: dict, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def kme_metrics(state_dir: Path, kme: str) -> dict:
    with sae_client(state_dir, "sae-alice", kme) as client:
        return scrape(client.get("/metrics"))


def test_every_process_serves_the_documented_metrics_and_health(mesh: Path) -> None:
    state = json.loads((mesh / "state.json").read_text())
    token = (mesh / "controller.token").read_text()
    controller = httpx.get(f"{state['controller_url']}/metrics", headers={"authorization": f"Bearer {token}"})
    samples = scrape(controller)
    assert documented("controller") - names(samples) == set()
    assert value(samples, "openqci_controller_links", status="up") == 7
    assert value(samples, "openqci_controller_nodes", status="up") == 6
    assert httpx.get(f"{state['controller_url']}/metrics").status_code == 401
    assert httpx.get(f"{state['controller_url']}/health").json()["status"] == "ready"
    for kme in state["kme_urls"]:
        samples = kme_metrics(mesh, kme)
        assert documented("KME") - names(samples) == set(), kme
        links = [
            link
            for (name, labels), _ in samples.items()
            if name == "openqci_qkdl_up"
            for k, link in labels
            if k == "link"
        ]
        assert links, kme
        for link in links:
            assert value(samples, "openqci_qkdl_up", kme=kme, link=link) == 1.0
            assert 0.0 < value(samples, "openqci_qkdl_qber_ratio", kme=kme, link=link) < 0.05
            skr = value(samples, "openqci_qkdl_skr_bits_per_second", kme=kme, link=link)
            assert skr > 100.0
            assert value(samples, "openqci_qkdl_eskr_bits_per_second", kme=kme, link=link) == min(
                skr, 16384.0
            )
            assert value(samples, "openqci_key_in_store_bits", kme=kme, link=link) > 0
        assert value(samples, "openqci_store_size_bytes", kme=kme) > 0
        with sae_client(mesh, "sae-alice", kme) as client:
            assert client.get("/health/ready").json() == {"status": "ready", "process": kme}


def test_key_in_store_rises_with_supply_and_falls_with_delivery(mesh: Path) -> None:
    link = dict(kme="alice", link="alice-n1")
    first = value(kme_metrics(mesh, "alice"), "openqci_key_in_store_bits", **link)
    time.sleep(2.5)
    before = kme_metrics(mesh, "alice")
    assert value(before, "openqci_key_in_store_bits", **link) > first
    with sae_client(mesh, "sae-alice", "alice") as master:
        for _ in range(2):  # 80 units of 256 bits: more than one tick brings (32 units at each end)
            answer = master.get("/api/v1/keys/sae-n1/enc_keys", params={"number": 40})
            assert answer.status_code == 200, answer.text
    after = kme_metrics(mesh, "alice")
    delivered = 2 * 40 * 256
    assert value(after, "openqci_key_in_store_bits", **link) < value(
        before, "openqci_key_in_store_bits", **link
    )
    consumed = value(after, "openqci_key_consumed_bits_total", **link) - value(
        before, "openqci_key_consumed_bits_total", **link
    )
    assert consumed == delivered
    endpoint = "GET /api/v1/keys/{slave_SAE_ID}/enc_keys"
    requests = value(after, "openqci_etsi014_requests_total", kme="alice", endpoint=endpoint, status="200")
    assert requests >= 2


def events(log: Path) -> list[dict[str, Any]]:
    """Every JSON line of a process's log (and its rotated files)."""
    lines = []
    for path in sorted(log.parent.glob(f"{log.name}*")):
        lines += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return lines


def wait_for_event(log: Path, timeout_s: float = 20.0, **fields: Any) -> list[dict[str, Any]]:
    """The events of ``log`` matching ``fields``, once there is at least one (or the deadline passes)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = [e for e in events(log) if all(e.get(k) == v for k, v in fields.items())]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.25)


def test_attack_cut_and_refusal_are_one_event_each(mesh: Path) -> None:
    # what `openqci network attack` calls; in-process, as a command's start-up costs seconds on a busy machine
    logs = mesh / "logs"
    attack(mesh, "alice-s1", intercept_resend=0.5)
    attack(mesh, "n1-s2", intercept_resend=0.0, cut=True)
    with sae_client(mesh, "sae-alice", "alice") as client:
        refused = client.get("/api/v1/keys/sae-nowhere/enc_keys")
    assert refused.status_code == 400

    raised = wait_for_event(logs / "controller.log", event="alarm.raised", link="alice-s1", alarm="qber-high")
    cut = wait_for_event(logs / "controller.log", event="link.down", link="n1-s2")
    refusal = wait_for_event(
        logs / "alice.log", event="request.refused", path="/api/v1/keys/sae-nowhere/enc_keys"
    )
    assert len(raised) == 1
    assert "possible eavesdropper" in raised[0]["reason"]
    assert len(cut) == 1
    assert cut[0]["level"] == "warning"
    assert "reported down" in cut[0]["reason"]
    assert len(refusal) == 1
    assert (refusal[0]["status"], refusal[0]["kme"]) == (400, "alice")
    assert refusal[0]["reason"] == refused.json()["message"]
    for event in (raised[0], cut[0], refusal[0]):
        assert set(event) >= {"time", "level", "logger", "pid", "event", "message"}
    started = [e for e in events(logs / "controller.log") if e["event"] == "process.started"]
    assert [e["role"] for e in started] == ["controller"]
    attack(mesh, "alice-s1", intercept_resend=0.0)
    attack(mesh, "n1-s2", intercept_resend=0.0)


def present(selector: str) -> str:
    return f"!!document.querySelector({json.dumps(selector)})"


def listed(selector: str, attribute: str) -> str:
    found = f"[...document.querySelectorAll({json.dumps(selector)})]"
    return f"{found}.map(e => e.getAttribute('{attribute}')).sort()"


def test_dashboard_draws_the_network_and_follows_it_live(mesh: Path, tmp_path: Path) -> None:
    binary = chromium_binary()
    scenario = yaml.safe_load((mesh / "scenario.yaml").read_text())
    with Chromium(binary) as browser:
        browser.open(dashboard_url(StateDir(mesh)))
        browser.wait_for("document.body.dataset.live === '1'", timeout_s=15)
        assert browser.evaluate(listed("circle[data-site]", "data-site")) == sorted(
            s["name"] for s in scenario["sites"]
        )
        assert browser.evaluate(listed("line[data-link]", "data-link")) == sorted(
            link["name"] for link in scenario["links"]
        )
        lengths = browser.evaluate(
            "[...document.querySelectorAll('line[data-link]')]"
            ".map(l => Math.hypot(l.x2.baseVal.value - l.x1.baseVal.value,"
            " l.y2.baseVal.value - l.y1.baseVal.value))"
        )
        assert min(lengths) > 10  # drawn at the sites' coordinates, not piled up
        assert browser.evaluate("document.querySelectorAll('path.land').length") > 20  # the country outlines
        assert browser.evaluate("document.getElementById('network').textContent") == "mesh"

        figure = "document.querySelector('[data-figure=\"kme-key-alice\"]').textContent"
        before = browser.evaluate(figure)
        browser.wait_for(f"{figure} !== {json.dumps(before)}", timeout_s=10)

        alarm = present('[data-alarm-kind="qber-high"][data-alarm-link="n1-n2"]')
        assert not browser.evaluate(alarm)
        injected = time.monotonic()
        attack(mesh, "n1-n2", intercept_resend=0.5)
        took_s = time.monotonic() - injected
        took_s += browser.wait_for(alarm, timeout_s=5.0 - took_s)
        print(f"eavesdropper on n1-n2 shown as an alarm {took_s:.1f} s after the attack was injected")
        assert took_s <= 5.0
        assert browser.evaluate(present('line[data-link="n1-n2"][data-condition="qber"]'))
        assert browser.evaluate(present('[data-attack="n1-n2"]'))

        attack(mesh, "s2-bob", intercept_resend=0.0, cut=True)
        browser.wait_for(present('line[data-link="s2-bob"][data-status="down"]'), timeout_s=10)
        browser.wait_for(present('[data-alarm-kind="link-down"][data-alarm-link="s2-bob"]'), timeout_s=5)
        time.sleep(1.0)
        shot = browser.screenshot(tmp_path / "dashboard-mesh.png")
    print(f"dashboard screenshot: {shot}")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000
    for link in ("n1-n2", "s2-bob"):
        attack(mesh, link, intercept_resend=0.0)
