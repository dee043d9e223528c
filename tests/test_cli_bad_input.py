"""Bad and contradictory input to every command: exactly one ``openqci: error:`` line and a non-zero status.

Each case runs the command in this process through :func:`openqci.cli.main` with its arguments, so an
exception that escapes (a traceback for a user) fails the test rather than hiding in a child's stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from openqci.cli import main

ROOT = Path(__file__).resolve().parents[1]
TLE = str(ROOT / "tests" / "space" / "data" / "micius_like.tle")
STATION = "40.3956,117.575,900"
SAE = ["--sae", "sae-a1", "--kme", "https://127.0.0.1:9", "--pki", "/nonexistent"]
KEY = ["sae", "get-key", "--slave", "sae-b1"]

CASES: list[tuple[list[str], str]] = [
    (["keyrate", "--protocol", "plob", "--mu", "0.5", "--block-size", "1e9"], "--mu and --block-size"),
    (["keyrate", "--protocol", "bbm92", "--decoys", "vacuum-weak"], "--decoys applies to"),
    (["keyrate", "--sweep", "0:10:1", "--max-distance"], "--max-distance finds the distance itself"),
    (["keyrate", "--sweep", "0:10:1", "--distance-km", "5"], "not both"),
    (["keyrate", "--sweep", "0:10:1", "--plot", "rate.txt"], "the figure is written as"),
    (["keyrate", "--sweep", "0:10:1", "--plot", "/nonexistent/rate.png"], "does not exist"),
    (["keyrate", "--sweep", "10:0:1"], "STOP >= START"),
    (["keyrate", "--protocol", "bb85"], "unknown protocol"),
    (["keyrate", "--protocol", "tf-qkd", "--mu", "0.3"], "--mu does not apply"),
    (["keyrate", "--bound", "chernoff"], "give --block-size too"),
    (["keyrate", "--block-size", "1e8", "--bound", "bogus"], "unknown finite-key bound 'bogus'"),
    (
        ["keyrate", "--protocol", "bbm92", "--block-size", "1e8", "--bound", "chernoff"],
        "applies to finite-key",
    ),
    (["keyrate", "--protocol", "cow", "--preset", "gys2004"], "choose one of: walenta2014"),
    (["keyrate", "--protocol", "mdi-qkd", "--distance-km", "-1"], "--distance-km must be"),
    (["keyrate", "--protocol", "cv-qkd", "--max-distance", "--sweep", "0:10:1"], "--max-distance finds"),
    (["keyrate", "--preset", "nope"], "nope"),
    (["link", "run", "--block-bits", "0"], "at least 1024 bits"),
    (["qin", "chain", "--segments", "0", "--p-gen", "0.1"], "segments must be at least 1"),
    (["qin", "chain", "--segments", "2", "--p-gen", "1.5"], "p_gen must be in (0, 1]"),
    (["qin", "chain", "--segments", "2", "--p-gen", "0.1", "--length-km", "-3"], "--length-km must be > 0"),
    (["qin", "chain", "--segments", "4096", "--p-gen", "1e-4", "--p-swap", "0.1"], "needs a grid"),
    (["qin", "link", "--length-km", "20", "--scheme", "bogus"], "--scheme must be one of"),
    (["qin", "link", "--length-km", "20", "--alpha", "0.2"], "--alpha applies to --scheme single-photon"),
    (["qin", "link", "--length-km", "0"], "length must be > 0 km"),
    (["qin", "route", "scenarios/line5.yaml", "--from", "kme1", "--to", "kme5"], "has no quantum memories"),
    (["qin", "route", "/nonexistent.yaml", "--from", "a", "--to", "b"], "cannot read the file"),
    (["qin", "route", "scenarios/line5.yaml", "--from", "kme1", "--to", "kme5", "--scheme", "x"], "--scheme"),
    (["qin", "downlink", "--loss-a-db", "30", "--loss-b-db", "30", "--duration-s", "0"], "--duration-s"),
    (["link", "run", "--distance-km", "-1"], "the distance must be >= 0 km"),
    (["link", "run", "--duration-s", "0"], "the duration must be > 0"),
    (["link", "run", "--eve", "intercept-resend"], "needs the fraction"),
    (["link", "run", "--eve", "mitm"], "unknown eavesdropper"),
    (["link", "run", "--reconciliation", "turbo"], "unknown reconciliation"),
    (
        [
            "space",
            "pass-key",
            "--preset",
            "micius2017",
            "--tle",
            TLE,
            "--station",
            STATION,
            "--plot",
            "p.bmp",
        ],
        "the figure is written as",
    ),
    (["space", "passes", "--tle", "/nonexistent.tle", "--station", STATION], "cannot read TLE file"),
    (["network", "attack", "x", "--cut", "--clear", "--state-dir", "/nonexistent"], "not --cut and --clear"),
    (
        ["network", "attack", "x", "--cut", "--intercept-resend", "0.5", "--state-dir", "/nonexistent"],
        "not --intercept-resend and --cut",
    ),
    (["network", "up", "scenarios/line5.yaml", "--state-dir", "unused", "--speedup", "0"], "--speedup"),
    (["network", "up", "scenarios/line5.yaml", "--state-dir", "unused", "--kmes-per-process", "0"], "--kmes"),
    (
        ["network", "up", "scenarios/line5.yaml", "--state-dir", "unused", "--controller-host", "0.0.0.0"],
        "in plain HTTP, where other hosts can reach it: add --controller-tls",
    ),
    (
        [
            "network",
            "up",
            "scenarios/line5.yaml",
            "--state-dir",
            "unused",
            "--controller-host",
            "kme.example",
            "--controller-tls",
        ],
        "give an IP address of this machine",
    ),
    (
        ["network", "up", "scenarios/line5.yaml", "--state-dir", "unused", "--controller-port", "70000"],
        "--controller-port must lie in 0..65535",
    ),
    (["network", "status", "--state-dir", "/nonexistent"], "no network is running"),
    (["network", "status", "--state-dir", "/nonexistent", "--watch"], "no network is running"),
    (["kms", "serve", "--config", "/nonexistent.yaml", "--log-level", "loud"], "--log-level"),
    (["network", "status", "--state-dir", "/nonexistent", "--watch", "--json"], "--watch or --json"),
    (["network", "status", "--state-dir", "/nonexistent", "--watch", "--interval", "0"], "--interval"),
    (
        ["network", "up", "scenarios/line5.yaml", "--state-dir", "unused", "--log-level", "loud"],
        "--log-level",
    ),
    (
        ["network", "up", "scenarios/line5.yaml", "--state-dir", "unused", "--log-max-bytes", "10"],
        "--log-max",
    ),
    (
        ["network", "up", "scenarios/line5.yaml", "--state-dir", "unused", "--log-backups", "-1"],
        "--log-backups",
    ),
    (["network", "show", "/nonexistent.yaml"], "cannot read the file"),
    (["plan", "/nonexistent.yaml"], "cannot read the file"),
    (["plan", "scenarios/franceqci.yaml", "--days", "0"], "--days"),
    (["plan", "run", "scenarios/franceqci.yaml", "--step", "-1"], "--step"),
    (["plan", "scenarios/franceqci.yaml", "--out", "/nonexistent/out"], "does not exist"),
    (["plan", "optimize", "scenarios/franceqci.yaml", "--time-limit", "0"], "--time-limit"),
    (["plan", "optimize", "scenarios/franceqci.yaml", "--write", "/nonexistent/p.yaml"], "does not exist"),
    (["plan", "optimize", "/nonexistent.yaml"], "cannot read the file"),
    (["plan", "replay", "/nonexistent"], "no such file"),
    (["plan", "replay", "/nonexistent", "--speed", "0"], "--speed must be"),
    (["plan", "replay", "/nonexistent", "--port", "70000"], "--port must be in"),
    (["plan", "optimize", "scenarios/euroqci.yaml", "--survivable"], "no design survives every single"),
    (["plan", "sweep", "scenarios/line5.yaml", "--vary", "bogus=1"], "unknown parameter 'bogus'"),
    (["plan", "sweep", "scenarios/line5.yaml", "--vary", "days=0"], "days (simulated days) must be > 0"),
    (["plan", "sweep", "scenarios/line5.yaml", "--vary", "seed"], "write NAME=V1,V2"),
    (["plan", "sweep", "scenarios/line5.yaml", "--vary", "seed=1.5"], "whole numbers"),
    (["plan", "sweep", "scenarios/line5.yaml", "--vary", "seed=1", "--workers", "0"], "--workers"),
    (["plan", "sweep", "scenarios/line5.yaml", "--vary", "seed=1", "--scheduler", "h:1"], "--scheduler"),
    (["kms", "check", "--config", "/nonexistent.yaml"], "cannot read the file"),
    (["kms", "serve", "--config", "/nonexistent.yaml"], "cannot read the file"),
    (["kms", "init", "README.md", "--kme-id", "kme-a"], "README.md exists already; a configuration is never"),
    (["kms", "init", "/nonexistent/kme.yaml", "--kme-id", "kme-a"], "the folder /nonexistent does not exist"),
    (["kms", "init", "unused.yaml", "--kme-id", "kme a"], "--kme-id 'kme a': use letters"),
    (["kms", "init", "unused.yaml", "--kme-id", "k", "--host", "kme.example"], "--host 'kme.example'"),
    (["kms", "init", "unused.yaml", "--kme-id", "k", "--port", "70000"], "--port must lie in 0..65535"),
    (["kms", "init", "unused.yaml", "--kme-id", "k", "--schema", "s"], "give --postgres too"),
    (["kms", "init", "unused.yaml", "--kme-id", "k", "--sae", "k"], "--sae: SAE IDs must be distinct"),
    (["pki", "init", "unused-pki", "--validity-days", "0"], "validity must be 1 to 3650 days"),
    (["pki", "issue", "/nonexistent", "--kme", "k"], "cannot read the CA certificate /nonexistent/ca.pem"),
    (["pki", "issue", "/nonexistent"], "give exactly one of --kme NAME or --sae NAME"),
    (["pki", "issue", "/nonexistent", "--kme", "k", "--sae", "s"], "give exactly one of --kme NAME or --sae"),
    (["pki", "issue", "/nonexistent", "--sae", "s", "--san", "IP:10.0.0.1"], "an SAE certificate is only"),
    (["pki", "issue", "/nonexistent", "--kme", "k", "--san", "10.0.0.1"], "write DNS:host.example or IP:"),
    (["pki", "issue", "/nonexistent", "--kme", "k", "--san", "IP:10.0.0"], "'10.0.0' is not an IP address"),
    (["pki", "issue", "/nonexistent", "--kme", "k", "--san", "DNS:a b"], "'a b' is not a host name"),
    (["pki", "issue", "/nonexistent", "--kme", "k k"], "'k k': a name uses letters"),
    (["pki", "issue", "/nonexistent", "--kme", "k", "--validity-days", "0"], "validity must be 1 to 3650"),
    ([*KEY, "--sae", "a", "--kme", "https://127.0.0.1:9"], "give --pki DIR, or all three of --certificate"),
    ([*KEY, *SAE, "--ca", "ca.pem"], "--certificate, --private-key and --ca: not both"),
    ([*KEY, "--sae", "a", "--kme", "http://127.0.0.1:9", "--pki", "x"], "--kme must be an https:// URL"),
    ([*KEY, *SAE], "cannot load TLS files"),
    ([*KEY, *SAE, "--number", "0"], "--number must be >= 1"),
    ([*KEY, *SAE, "--size", "12"], "--size must be a positive multiple of 8 bits"),
    (["sae", "get-key-with-id", "--master", "sae-a1", "nope", *SAE], "KEY_ID 'nope' is not a UUID"),
    (["sae", "seal", "/nonexistent.txt", "--slave", "sae-b1", *SAE], "cannot read /nonexistent.txt"),
    (["sae", "seal", "README.md", "--slave", "b", "-o", "run", *SAE], "run exists: it is never overwritten"),
    (["sae", "seal", "README.md", "--slave", "b", "-o", "/nonexistent/x", *SAE], "does not exist"),
    (["sae", "seal", "README.md", "--slave", "b", "--chunk-bytes", "0", *SAE], "chunk_bytes must be 16.."),
    (["sae", "seal", "README.md", "--slave", "b", "--recipient-key", "/nonexistent", *SAE], "cannot read"),
    (["sae", "seal", "README.md", "--slave", "b", "--recipient-key", "run", *SAE], "run: not JSON"),
    (["sae", "open", "README.md", *SAE], "README.md does not end in .sealed: say where"),
    (["sae", "open", "README.md", "-o", "never-written", *SAE], "README.md is not a sealed file"),
    (["sae", "open", "/nonexistent.sealed", *SAE], "cannot read /nonexistent.sealed"),
    (
        ["sae", "keygen", "--sae", "a", "--out", "/nonexistent"],
        "--out /nonexistent: the folder does not exist",
    ),
    (
        ["sae", "keygen", "--sae", "a", "--out", "src", "--parameter-set", "1722"],
        "use a CatKDF parameter set",
    ),
    (["demo", "--duration-s", "0"], "--duration-s must be > 0"),
    (["demo", "--collect-s", "-1"], "--collect-s must be >= 0"),
    (["demo", "--flights", "0"], "--flights must be >= 1"),
    (["demo", "--rekey-seconds", "0"], "--rekey-seconds must be > 0"),
    (["demo", "--no-cut", "--cut-link", "toulouse-dsna"], "--cut-link needs --cut"),
    (["demo", "--cut-link", "paris-nice"], "--cut-link paris-nice: not a link of franceqci"),
    (["demo", "--master", "nobody"], "--master nobody: not an SAE of franceqci; its SAEs are: atc-toulouse"),
    (["demo", "--slave", "atc-toulouse"], "--master and --slave must be two different SAEs"),
    (["demo", "--scenario", "/nonexistent.yaml"], "cannot read the file"),
]


@pytest.mark.parametrize(
    ("args", "expected"), CASES, ids=[" ".join(a[:3]) + f" #{i}" for i, (a, _) in enumerate(CASES)]
)
def test_bad_input_gets_one_error_line(
    args: list[str], expected: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "argv", ["openqci", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code not in (0, None)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("openqci: error: ")
    assert expected in lines[0]


def test_a_kme_that_does_not_answer_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from openqci.kms.pki import init_pki
    from tests.kms.servers import free_port

    init_pki(tmp_path, ["kme-a"], ["sae-a1"])
    url = f"https://127.0.0.1:{free_port()}"
    args = [
        "openqci",
        "sae",
        "get-key",
        "--slave",
        "sae-b1",
        "--sae",
        "sae-a1",
        "--kme",
        url,
        "--pki",
        str(tmp_path),
    ]
    monkeypatch.setattr(sys, "argv", args)
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"openqci: error: enc_keys: cannot connect to the KME at {url}")


def test_broken_yaml_is_named_by_its_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "kme.yaml"
    broken.write_text("kme_id: [a\nport: 1\n")
    monkeypatch.setattr(sys, "argv", ["openqci", "kms", "check", "--config", str(broken)])
    with pytest.raises(SystemExit):
        main()
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"openqci: error: {broken}: line 2, column 5: not valid YAML")
    assert "<unicode string>" not in line


def test_pki_issue_refuses_to_overwrite_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from openqci.kms.pki import init_pki

    init_pki(tmp_path, ["kme-a"], [])
    monkeypatch.setattr(sys, "argv", ["openqci", "pki", "issue", str(tmp_path), "--kme", "kme-a"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert (
        line == f"openqci: error: {tmp_path / 'kme-a.pem'} exists already; a certificate is never overwritten"
    )
