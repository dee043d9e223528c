"""The ``openqci`` command keeps the conventions of command lines: ``-h`` everywhere, ``--version``, shell
completion, flags shown as flags, and tables that read well at 80 columns with no Python repr in them.
"""

from __future__ import annotations

import io
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from rich.console import Console

import openqci
from openqci.cli import app, main

ROOT = Path(__file__).resolve().parents[1]
TLE = str(ROOT / "tests" / "space" / "data" / "micius_like.tle")
STATION = "40.3956,117.575,900"


def _command_paths() -> list[list[str]]:
    """Every group and command of the app, as the words that reach it."""
    found: list[list[str]] = []

    def walk(command: object, words: list[str]) -> None:
        found.append(words)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*words, name])

    walk(typer.main.get_command(app), [])
    return found


def _run_main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    saved = sys.argv
    sys.argv = ["openqci", *args]
    try:
        main()
        code = 0
    except SystemExit as done:
        code = int(done.code or 0)
    finally:
        sys.argv = saved
    out, err = capsys.readouterr()
    return code, out, err


def test_the_walk_sees_every_group() -> None:
    # the -h test below would pass vacuously over an empty tree
    paths = {" ".join(p) for p in _command_paths()}
    assert {"", "keyrate", "link run", "kms serve", "network up", "sae seal", "space pass-key"} <= paths


@pytest.mark.parametrize("words", _command_paths(), ids=lambda words: " ".join(words) or "openqci")
def test_every_command_and_group_answers_short_help(
    words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run_main([*words, "-h"], capsys)
    assert code == 0, err
    assert out.startswith(f"Usage: {' '.join(['openqci', *words])} ")
    assert err == ""
    # a flag takes no value, so its help shows none; the rich panels showed `--json <bool>`
    assert "<bool>" not in out
    assert "-h, --help" in out


def test_flags_are_shown_as_flags_and_refuse_a_value(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = _run_main(["keyrate", "--help"], capsys)
    assert re.search(r"^  --json +Print JSON", out, re.MULTILINE)
    assert re.search(r"^  --max-distance +Print where", out, re.MULTILINE)
    code, out, err = _run_main(["keyrate", "--json", "true"], capsys)
    assert code == 2
    assert err.startswith("openqci: error:")
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize("option", ["--version", "-V"])
def test_version_option(option: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run_main([option], capsys)
    assert (code, out, err) == (0, f"openqci {openqci.__version__}\n", "")


def test_shell_completion_script_and_answers() -> None:
    # the script is for the shell that runs the command (found from the parent processes); `; true`
    # keeps bash from replacing itself with the command, so bash is that parent
    shown = subprocess.run(
        ["bash", "-c", f"{shlex.quote(sys.executable)} -m openqci --show-completion; true"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "_OPENQCI_COMPLETE=complete_bash" in shown.stdout
    assert "complete -o default -F _openqci_completion openqci" in shown.stdout
    environment = os.environ | {
        "_OPENQCI_COMPLETE": "complete_bash",
        "COMP_WORDS": "openqci network s",
        "COMP_CWORD": "2",
    }
    answered = subprocess.run(
        [sys.executable, "-m", "openqci"], env=environment, capture_output=True, text=True, timeout=120
    )
    assert answered.returncode == 0, answered.stderr
    assert set(answered.stdout.split()) == {"schema", "show", "status"}


# --- tables at 80 columns ---------------------------------------------------------------------------

_NUMBER = re.compile(r"(?<![\w.])-?\d[\d.]*(?:e[+-]?\d+)?")


def _significant_digits(token: str) -> int:
    mantissa = token.lstrip("-").split("e")[0]
    return len(mantissa.replace(".", "").lstrip("0"))


def _check_table_text(text: str, headers: list[str]) -> None:
    """No repr, no over-long figure, no header cut short (the presets' citations below their table aside)."""
    text = text.split("\nSources:")[0]
    for repr_word in (r"\bNone\b", r"\bnan\b", r"\bTrue\b", r"\bFalse\b", r"\binf\b", r"[{}]", r"\(0\."):
        assert not re.search(repr_word, text), f"{repr_word!r} in:\n{text}"
    assert "…" not in text, text
    assert max(len(line) for line in text.splitlines()) <= 80
    too_long = [t for t in _NUMBER.findall(text) if "." in t and _significant_digits(t) > 6]
    assert too_long == [], text
    words = set(text.split())
    for header in headers:
        assert set(header.split()) <= words, f"header {header!r} lost in:\n{text}"


TABLE_COMMANDS: list[tuple[list[str], list[str]]] = [
    (["keyrate"], ["distance (km)", "loss (dB)", "mu", "QBER", "key (bit/pulse)", "key rate"]),
    (["keyrate", "--block-size", "1e6", "--sweep", "0:200:25"], ["key (bit/pulse)", "key rate"]),
    (["keyrate", "--protocol", "plob", "--sweep", "0:100:50"], ["distance (km)", "key rate"]),
    (["keyrate", "--protocol", "bbm92", "--preset", "lim2014"], ["distance (km)", "gain"]),
    (["presets"], ["preset", "clock", "intensities (signal, decoys)", "eta_Bob", "dark/gate", "e_det"]),
    (
        ["network", "show", str(ROOT / "scenarios" / "franceqci.yaml")],
        ["site", "roles", "latitude (deg)", "link", "ends", "preset", "key rate", "required rate"],
    ),
    (["space", "passes", "--tle", TLE, "--station", STATION], ["satellite", "max el (deg)", "duration (s)"]),
    (
        ["space", "pass-key", "--tle", TLE, "--station", STATION, "--aggregate"],
        ["start (UTC)", "loss (dB)", "sifted bits", "secret bits"],
    ),
]


@pytest.mark.parametrize(("args", "headers"), TABLE_COMMANDS, ids=lambda v: " ".join(v)[:40])
def test_tables_read_well_at_80_columns(args: list[str], headers: list[str], tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "openqci", *(arg.replace("{tmp}", str(tmp_path)) for arg in args)],
        capture_output=True,
        text=True,
        timeout=240,
        env=os.environ | {"COLUMNS": "80"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    _check_table_text(done.stdout, headers)


def _rendered(renderable: object) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=80, color_system=None).print(renderable)
    return buffer.getvalue()


def test_link_report_table_shows_no_repr() -> None:
    from openqci.commands.link import report_table

    record = {
        "preset": "lim2014",
        "eve": None,
        "intensities": (0.43278060913085936, 0.20453039388656616, 0.0002),
        "pulses_sent": 200_000_000,
        "ec_efficiency": float("nan"),
        "secret_key_rate_bps": 1008456.123456789,
        "keys_identical": True,
        "abort_reasons": {},
        "real_time_factor": 0.004529071234,
    }
    text = _rendered(report_table(record, "lim2014 over 25 km"))
    _check_table_text(text, ["quantity", "value"])
    assert "0.4328, 0.2045, 0.0002" in text
    assert "200,000,000" in text
    assert "1.008 Mbit/s" in text


def test_network_status_tables_show_no_repr() -> None:
    from openqci.commands.network import _alarms_table, _live_links_table, _nodes_table

    link = {
        "qkdl_id": "orange-chatillon-telecom-paris",
        "qkdl_status": "down",
        "skr_bps": None,
        "eskr_bps": None,
        "qber": None,
        "available_key_bits": None,
        "alarms": [],
    }
    up = link | {"qkdl_id": "a-b", "qkdl_status": "up", "skr_bps": 123456.789012, "qber": 0.0240515123}
    alarm = {"link": "a-b", "kind": "qber", "raised_at": "2026-01-01T00:00:00Z", "message": "QBER 12 %"}
    document = {
        "nodes": [{"qkdn_id": "a", "qkdn_status": "up", "kme_url": None}],
        "links": [link, up | {"eskr_bps": 65536.0, "available_key_bits": 1234567, "alarms": [alarm]}],
        "alarms": {"active": [alarm], "cleared": []},
    }
    for table, headers in (
        (_nodes_table(document), ["KME", "status", "URL"]),
        (_live_links_table(document), ["link", "key rate", "effective", "available (bits)", "QBER"]),
        (_alarms_table(document), ["link", "alarm", "since", "why"]),
    ):
        _check_table_text(_rendered(table), headers)


def test_cell_and_si_examples_run() -> None:
    import doctest

    import openqci.commands.output as output

    failures, attempted = doctest.testmod(output)
    assert attempted >= 2
    assert failures == 0
