"""The controller over TLS: who it lets in, and a launched network whose CLI, sites and KMEs reach it.

The controller process takes the bearer token or a KME's client certificate; plain HTTP, an SAE's
certificate and a certificate of another CA are refused. In a launched network (slow), a key relayed over
two hops shows the KMEs asking the controller for routes with their certificates (their configurations
hold no token). Binding the controller to an address other hosts could reach without TLS is refused
before anything starts.
"""

from __future__ import annotations

import json
import secrets
import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from openqci.cli import main
from openqci.kms.pki import init_pki
from openqci.kms.tls import client_context
from openqci.network.controller_tls import bind_controller, issue_controller_certificate
from openqci.network.statedir import StateDir, write_secret
from tests.network.test_launcher import ROOT, launched, openqci


def _state_dir(root: Path) -> StateDir:
    """What the launcher writes before it starts the controller: scenario, token and PKI."""
    layout = StateDir(root)
    shutil.copyfile(ROOT / "scenarios" / "line5.yaml", layout.scenario_file)
    write_secret(layout.token_file, secrets.token_urlsafe(32).encode())
    init_pki(layout.pki_dir, [f"kme{i}" for i in range(1, 6)], ["sae-west"])
    return layout


@pytest.fixture(scope="module")
def controller(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The controller process alone, over TLS on 127.0.0.1; its URL is written to ``state.json``."""
    layout = _state_dir(tmp_path_factory.mktemp("controller"))
    tls = issue_controller_certificate(layout.pki_dir, "127.0.0.1")
    sock = bind_controller("127.0.0.1", 0)
    url = f"https://127.0.0.1:{sock.getsockname()[1]}"
    layout.state_file.write_text(json.dumps({"controller_url": url}))
    args = ["--state-dir", str(layout.root), "--fd", str(sock.fileno()), "--tls-certificate",
            str(tls.certificate), "--tls-key", str(tls.private_key), "--tls-ca", str(tls.ca)]  # fmt: skip
    module = [sys.executable, "-m", "openqci.network.controller_server"]
    process = subprocess.Popen([*module, *args], pass_fds=[sock.fileno()])
    sock.close()
    try:
        yield layout.root
    finally:
        process.terminate()
        process.wait(timeout=30)


def _client(state_dir: Path, *, cert: str | None = None, token: bool = False) -> httpx.Client:
    pki = state_dir / "pki"
    if cert is None:
        context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    else:
        context = client_context(pki / "ca.pem", pki / f"{cert}.pem", pki / f"{cert}.key")
    bearer = (state_dir / "controller.token").read_text().strip()
    headers = {"authorization": f"Bearer {bearer}"} if token else {}
    url = json.loads((state_dir / "state.json").read_text())["controller_url"]
    return httpx.Client(base_url=url, verify=context, headers=headers, timeout=10.0)


def _check_who_is_let_in(state_dir: Path, tmp_path: Path) -> None:
    cases = [(None, True, 200), ("kme2", False, 200), (None, False, 401), ("sae-west", False, 401)]
    for cert, token, expected in cases:
        with _client(state_dir, cert=cert, token=token) as client:
            assert client.get("/api/v1/nodes").status_code == expected, (cert, token)
    url = json.loads((state_dir / "state.json").read_text())["controller_url"]
    with pytest.raises(httpx.HTTPError):
        httpx.get(url.replace("https://", "http://") + "/api/v1/nodes", timeout=5.0)
    init_pki(tmp_path / "other", ["kme2"], [])
    ca = state_dir / "pki" / "ca.pem"
    other = client_context(ca, tmp_path / "other" / "kme2.pem", tmp_path / "other" / "kme2.key")
    with pytest.raises(httpx.HTTPError):
        httpx.get(url + "/api/v1/nodes", verify=other, timeout=5.0)


def test_the_controller_lets_in_the_token_or_a_kme_certificate_and_nothing_else(
    controller: Path, tmp_path: Path
) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with _client(controller, token=True) as client:
                client.get("/api/v1/nodes")
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline, "the controller did not answer within 60 s"
            time.sleep(0.2)
    _check_who_is_let_in(controller, tmp_path)


def test_network_up_refuses_a_controller_other_hosts_can_reach_without_tls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state"
    args = ["openqci", "network", "up", str(ROOT / "scenarios" / "line5.yaml"), "--state-dir", str(state)]
    monkeypatch.setattr(sys, "argv", [*args, "--controller-host", "0.0.0.0"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("openqci: error: the controller would listen on 0.0.0.0 in plain HTTP")
    assert "--controller-tls" in line
    assert not state.exists()


@pytest.fixture(scope="module")
def line3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """kme1 - kme2 - kme3 with SAEs at both ends, one site process, controller over TLS."""
    root = tmp_path_factory.mktemp("tls")
    document = yaml.safe_load((ROOT / "scenarios" / "line5.yaml").read_text())
    document["name"] = "line3"
    document["sites"] = document["sites"][:3]
    document["links"] = document["links"][:2]
    document["saes"] = [{"name": "sae-west", "kme": "kme1"}, {"name": "sae-middle", "kme": "kme3"}]
    document["demands"] = []
    scenario = root / "line3.yaml"
    scenario.write_text(yaml.safe_dump(document))
    yield from launched(scenario, root / "state", "--controller-tls", "--kmes-per-process", "3")


@pytest.mark.slow
def test_a_launched_network_over_tls_serves_the_cli_and_relays_by_certificate(
    line3: Path, tmp_path: Path
) -> None:
    url = json.loads((line3 / "state.json").read_text())["controller_url"]
    assert url.startswith("https://127.0.0.1:")
    done = openqci("network", "status", "--state-dir", str(line3), "--json")
    assert done.returncode == 0, done.stderr
    assert [n["qkdn_status"] for n in json.loads(done.stdout)["nodes"]] == ["up"] * 3
    _check_who_is_let_in(line3, tmp_path)
    config = yaml.safe_load((line3 / "kmes" / "kme1" / "kme.yaml").read_text())
    assert config["relay"]["controller_url"] == url
    assert "token_file" not in config["relay"]
    urls = json.loads((line3 / "state.json").read_text())["kme_urls"]
    pki = line3 / "pki"
    master = client_context(pki / "ca.pem", pki / "sae-west.pem", pki / "sae-west.key")
    slave = client_context(pki / "ca.pem", pki / "sae-middle.pem", pki / "sae-middle.key")
    enc = httpx.get(f"{urls['kme1']}/api/v1/keys/sae-middle/enc_keys", verify=master, timeout=20.0)
    assert enc.status_code == 200, enc.text
    ids = [{"key_ID": key["key_ID"]} for key in enc.json()["keys"]]
    dec = httpx.post(
        f"{urls['kme3']}/api/v1/keys/sae-west/dec_keys", json={"key_IDs": ids}, verify=slave, timeout=20.0
    )
    assert dec.status_code == 200, dec.text
    assert dec.json()["keys"] == enc.json()["keys"]
