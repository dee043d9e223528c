"""The README's tour, run as written, from a directory other than the repository's root.

Each ``./run openqci ...`` line of the tour is run with the repository's ``run`` script from a temporary
directory that holds the tour's inputs (``scenarios/``, ``tests/``) as links, the way a user with a copy
of them would: every line must succeed, what it writes (figures, the PKI, the schema) must land in that
directory, and the figures the comments quote must come out. Lines that need a running KME or SAE files
from docs/kms.md are left to the tests of those commands; the network lines run in the slow suite. The
README's Python block runs too.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import matplotlib
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
NEEDS_A_SERVER = ("openqci kms ", "openqci sae ")
NETWORK_RUN = (
    "openqci network up",
    "openqci network status",
    "openqci network attack",
    "openqci network down",
)
SLOW_LINES = ("openqci link run",)
WRITTEN = ("rate.png", "tf-qkd.png", "pass.png", "pki", "scenario.schema.json")


def _block(after_heading: str, language: str) -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index(after_heading) :]
    return re.search(rf"```{language}\n(.*?)```", section, re.DOTALL).group(1)  # type: ignore[union-attr]


def _tour_lines() -> list[str]:
    """The tour's commands, continuation lines joined and comments dropped."""
    joined = _block("## A short tour of the command line", "sh").replace("\\\n", " ")
    lines = [line.split("   #")[0].split("  # ")[0].strip() for line in joined.splitlines()]
    return [line for line in lines if line.startswith("./run openqci")]


def _run(line: str, where: Path, timeout_s: float = 600.0) -> subprocess.CompletedProcess[str]:
    """``line`` as a shell runs it in ``where``, with ``./run`` being the repository's script."""
    script = ROOT / "run"
    venv_command = ROOT / ".venv" / "bin" / "openqci"
    launcher = shlex.quote(str(script)) if venv_command.exists() else f"{shlex.quote(sys.executable)} -m"
    command = launcher + line.removeprefix("./run")
    return subprocess.run(
        ["bash", "-c", command], cwd=where, capture_output=True, text=True, timeout=timeout_s, check=False
    )


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A directory that is not the repository's root, with the tour's inputs in it."""
    for name in ("scenarios", "tests"):
        (tmp_path / name).symlink_to(ROOT / name)
    return tmp_path


def test_the_tour_is_found() -> None:
    lines = _tour_lines()
    assert len(lines) >= 20
    assert any("--sweep 0:200:1 --plot rate.png" in line for line in lines)
    assert any("--station 40.3956,117.575,900 --plot pass.png --json" in line for line in lines)


@pytest.mark.slow
def test_the_tour_runs_as_written_from_another_directory(elsewhere: Path) -> None:
    before = {name: (ROOT / name).exists() for name in WRITTEN}
    lines = [
        line
        for line in _tour_lines()
        if not any(part in line for part in (*NEEDS_A_SERVER, *NETWORK_RUN, *SLOW_LINES))
    ]
    outputs = {}
    for line in lines:
        done = _run(line, elsewhere)
        assert done.returncode == 0, f"{line}\n{done.stderr}"
        assert "Traceback" not in done.stderr
        if "--json" in line:
            outputs[line] = json.loads(done.stdout)
    assert (elsewhere / "rate.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (elsewhere / "pass.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert any((elsewhere / "pki").rglob("*.pem"))
    assert json.loads((elsewhere / "scenario.schema.json").read_text())["title"] == "Scenario"
    assert {name: (ROOT / name).exists() for name in WRITTEN} == before
    reach = next(v for k, v in outputs.items() if "--max-distance" in k)
    assert reach["max_distance_km"] == pytest.approx(142.2, abs=0.05)  # the tour's comment


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_the_link_lines_run_as_written(elsewhere: Path) -> None:
    # each line simulates a second of a 1 GHz link: 1e9 pulses, several minutes on two busy cores
    for line in (line for line in _tour_lines() if any(part in line for part in SLOW_LINES)):
        done = _run(line, elsewhere, timeout_s=1200.0)
        assert done.returncode == 0, f"{line}\n{done.stderr}"
        report = json.loads(done.stdout)
        # the eavesdropper's line must be caught: no key; the other makes key, the same at both ends
        assert (report["final_key_bits"] > 0) is ("--eve" not in line)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_network_lines_run_as_written(elsewhere: Path) -> None:
    network = [line for line in _tour_lines() if any(part in line for part in NETWORK_RUN)]
    assert [line.split()[3] for line in network] == ["up", "status", "attack", "down"]
    try:
        for line in network:
            done = _run(line, elsewhere)
            assert done.returncode == 0, f"{line}\n{done.stderr}"
            if " up " in line:
                assert (elsewhere / "state" / "mesh" / "state.json").exists()
        assert not (ROOT / "state" / "mesh").exists()
    finally:
        _run(network[-1], elsewhere)


def test_the_python_block_runs_and_leaves_the_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    code = _block("## From Python", "python")
    monkeypatch.chdir(ROOT)
    previous = matplotlib.get_backend()
    matplotlib.use("svg")
    try:
        namespace: dict[str, object] = {}
        exec(compile(code, str(README), "exec"), namespace)
        assert matplotlib.get_backend() == "svg"
    finally:
        matplotlib.use(previous)
    import openqci

    assert round(float(openqci.secret_key_rate("gys2004", 50.0).secret_key_rate_bps)) == 445  # as quoted
    report = namespace["report"]
    assert report.keys_identical  # type: ignore[attr-defined]
    assert os.fspath(namespace["scenario"].name) == "franceqci"  # type: ignore[attr-defined]
