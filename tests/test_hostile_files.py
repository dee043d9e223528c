"""Hostile scenario and configuration files: one error line, at once, never a traceback or a hang."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from openqci.cli import main
from openqci.kms.crypto import MasterKey
from openqci.kms.errors import ConfigError


def deep(path: Path) -> Path:
    path.write_text("a: " + "[" * 20_000 + "]" * 20_000 + "\n")
    return path


def alias_bomb(path: Path) -> Path:
    # Eleven levels of nine aliases each: 9^11 (about 3e10) strings for whatever walks the result.
    lines = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for level in range(1, 12):
        name, previous = chr(97 + level), chr(96 + level)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("command", [["network", "show"], ["kms", "check", "--config"]])
@pytest.mark.parametrize(
    ("make", "message"),
    [
        (deep, "nested too deeply"),
        (alias_bomb, "anchors and aliases"),
        (lambda _: Path("/dev/zero"), "larger than 16 MiB"),
    ],
)
def test_a_hostile_file_is_one_error_line(
    command: list[str],
    make: object,
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = make(tmp_path / "hostile.yaml")  # type: ignore[operator]
    monkeypatch.setattr(sys, "argv", ["openqci", *command, str(path)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code != 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("openqci: error:")
    assert message in lines[0]


def test_a_device_as_master_key_file_is_refused_without_reading_it_all() -> None:
    with pytest.raises(ConfigError, match="32 bytes"):
        MasterKey.from_file(Path("/dev/zero"))
