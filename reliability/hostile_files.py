"""Hostile scenario and KME configuration files: each must give one ``openqci: error:`` line, never more.

Every file goes to the command that reads it (``openqci network show`` for scenarios, ``openqci kms check``
for configurations) in a process of its own, so that a crash, a traceback or a hang is seen as the user
would see it. A zero exit status, a traceback, or anything but exactly one error line is a violation.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from reliability.outcome import Outcome

__all__ = ["TIMEOUT_S", "check_hostile_files", "hostile_documents"]

TIMEOUT_S = 30.0
"""How long a command may take to refuse a file (start-up included, on a loaded machine)."""

_LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(9)
)


def hostile_documents() -> dict[str, bytes]:
    """Hostile YAML for any file the CLI reads, by what is wrong with it."""
    return {
        "empty": b"",
        "a list, not a mapping": b"- 1\n- 2\n",
        "billion laughs (alias expansion)": _LAUGHS.encode(),
        "nesting 20,000 deep": b"a: " + b"[" * 20000 + b"]" * 20000 + b"\n",
        "python object tag": b"name: !!python/object/apply:os.system ['true']\n",
        "invalid UTF-8 and NUL": b"name: \xff\xfe\x00\x00\n",
        "2 MB of one scalar": b"name: " + b"x" * (2 << 20) + b"\n",
        "tab indentation": b"name:\n\t- x\n",
        "float overflow": b"name: x\nport: 1e999\nlength_km: 1e999\n",
    }


def _scenarios() -> dict[str, bytes]:
    line = "{name: l, site_a: a, site_b: %s, preset: %s, length_km: %s}"
    base = (
        "name: hostile\nsites:\n"
        "  - {name: a, roles: [kme], latitude_deg: 0, longitude_deg: 0, reference: x}\n"
        "  - {name: b, roles: [kme], latitude_deg: 0, longitude_deg: 1, reference: x}\nlinks:\n  - %s\n"
    )
    return {
        "scenario: link to an unknown site": (base % (line % ("zz", "yuan2018", "25"))).encode(),
        "scenario: unknown preset": (base % (line % ("b", "nope", "25"))).encode(),
        "scenario: negative length": (base % (line % ("b", "yuan2018", "-5"))).encode(),
        "scenario: infinite length": (base % (line % ("b", "yuan2018", ".inf"))).encode(),
        "scenario: NaN length": (base % (line % ("b", "yuan2018", ".nan"))).encode(),
    }


def _configs(pki: Path) -> dict[str, bytes]:
    base = (
        "kme_id: k\nport: %s\nmaster_key_file: %s\nstore: {sqlite: %s}\n"
        f"tls: {{ca: {pki}/ca.pem, certificate: {pki}/kme-a.pem, private_key: {pki}/kme-a.key}}\n"
    )
    return {
        "config: port out of range": (base % ("99999", "m.key", "s.sqlite")).encode(),
        "config: master key is /dev/zero": (base % ("0", "/dev/zero", "s.sqlite")).encode(),
        "config: store is a directory": (base % ("0", "m.key", "/tmp")).encode(),
        "config: store under /proc": (base % ("0", "m.key", "/proc/self/x.sqlite")).encode(),
        "config: unknown field": (base % ("0", "m.key", "s.sqlite") + "debug: true\n").encode(),
    }


def check_hostile_files(outcome: Outcome, root: Path, pki: Path, *, workers: int = 3) -> None:
    """Give each hostile file to the command that reads it; count the answers."""
    (root / "m.key").write_bytes(os.urandom(32))
    cases = []
    for kind, data in hostile_documents().items():
        cases += [("network show", kind, data), ("kms check", kind, data)]
    cases += [("network show", kind, data) for kind, data in _scenarios().items()]
    cases += [("kms check", kind, data) for kind, data in _configs(pki).items()]
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(lambda c: _run(root, *c[:2], c[2], index=cases.index(c)), cases))
    for command, kind, verdict in results:
        outcome.requests += 1
        outcome.faults += 1
        if verdict == "ok":
            outcome.errors["hostile file refused with one error line"] += 1
        else:
            outcome.violate(f"openqci {command} with a hostile file ({kind}): {verdict}")


def _limit_memory() -> None:
    """A hostile file must not take the machine down with the command: 2 GB of address space at most."""
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def _run(root: Path, command: str, kind: str, data: bytes, *, index: int) -> tuple[str, str, str]:
    path = root / f"hostile-{index}.yaml"
    path.write_bytes(data)
    args = [command.split()[0], command.split()[1]] + (
        [str(path)] if command == "network show" else ["--config", str(path)]
    )
    try:
        done = subprocess.run(
            [sys.executable, "-m", "openqci", *args],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            cwd=root,
            errors="replace",
            preexec_fn=_limit_memory,
        )
    except subprocess.TimeoutExpired:
        return command, kind, f"no answer within {TIMEOUT_S:g} s"
    lines = done.stderr.strip().splitlines()
    if "Traceback" in done.stderr:
        return command, kind, "a traceback"
    if done.returncode == 0:
        return command, kind, "accepted (exit status 0)"
    if len(lines) != 1 or not lines[0].startswith("openqci: error: "):
        return command, kind, f"{len(lines)} lines on stderr instead of one 'openqci: error:' line"
    return command, kind, "ok"
