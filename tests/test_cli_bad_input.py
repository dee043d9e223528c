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
    (["keyrate", "--preset", "nope"], "nope"),
    (["link", "run", "--block-bits", "0"], "at least 1024 bits"),
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
    (["network", "status", "--state-dir", "/nonexistent"], "no network is running"),
    (["network", "show", "/nonexistent.yaml"], "cannot read the file"),
    (["kms", "check", "--config", "/nonexistent.yaml"], "cannot read the file"),
    (["kms", "serve", "--config", "/nonexistent.yaml"], "cannot read the file"),
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
