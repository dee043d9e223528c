"""The campaigns in order, each under its own bounds, and the one table they make (rich, and JSON)."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from reliability.outcome import Outcome

__all__ = ["CAMPAIGNS", "Settings", "cpu_name", "markdown_table", "render", "run_campaigns", "write_json"]


@dataclass(frozen=True)
class Settings:
    """How much each campaign does; the defaults fit the whole run in about 10-15 minutes on 2 cores."""

    kills: int = 25
    """SIGKILLs per store backend (kme-a or kme-b)."""
    network_kills: int = 10
    """SIGKILLs of the site processes of the launched line (the trusted node half of the time)."""
    cuts: int = 4
    load_s: float = 60.0
    soak_s: float = 0.0
    """A soak after the load (600 for the ten-minute soak); 0 leaves it out."""
    examples: int = 25
    idle: int = 200
    quantum_blocks: int = 3
    hostile_files: bool = True
    quantum_control: bool = True
    seed: int = 20261206
    budget_scale: float = 1.0


def _crash(s: Settings) -> list[Outcome]:
    from reliability.crash import run_crash, run_trusted_node_crash

    budget = 300 * s.budget_scale
    rows = [
        _guarded(f"crash ({b})", partial(run_crash, b, kills=s.kills, budget_s=budget, seed=s.seed + i))
        for i, b in enumerate(("sqlite", "postgres"))
    ]
    if s.network_kills:
        part = partial(run_trusted_node_crash, kills=s.network_kills, budget_s=0.8 * budget, seed=s.seed)
        rows.append(_guarded("crash (launched line)", part))
    return rows


def _guarded(name: str, campaign: Callable[[], Outcome]) -> Outcome:
    """One part of a campaign: if it raises, a row with that as its violation, and the other parts go on."""
    try:
        return campaign()
    except Exception as error:  # a part that breaks is a finding, reported in its row
        failed = Outcome(name)
        failed.violate(f"the campaign itself failed: {type(error).__name__}: {error}")
        return failed


def _partitions(s: Settings) -> list[Outcome]:
    from reliability.partitions import run_partitions

    return [run_partitions(cuts=s.cuts, budget_s=150 * s.budget_scale, seed=s.seed)]


def _load(s: Settings) -> list[Outcome]:
    from reliability.load import run_load

    rows = [run_load(duration_s=s.load_s, seed=s.seed)]
    if s.soak_s:
        rows.append(run_load(duration_s=s.soak_s, seed=s.seed + 1, label="soak"))
    return rows


def _bad_input(s: Settings) -> list[Outcome]:
    from reliability.bad_input import run_bad_input

    return [
        run_bad_input(examples=s.examples, idle=s.idle, budget_s=300 * s.budget_scale, files=s.hostile_files)
    ]


def _access(s: Settings) -> list[Outcome]:
    from reliability.access import run_access

    return [run_access(budget_s=120 * s.budget_scale, seed=s.seed)]


def _quantum(s: Settings) -> list[Outcome]:
    from reliability.quantum import run_quantum

    return [
        run_quantum(
            blocks=s.quantum_blocks, budget_s=300 * s.budget_scale, seed=s.seed, control=s.quantum_control
        )
    ]


CAMPAIGNS: dict[str, Callable[[Settings], list[Outcome]]] = {
    "crash": _crash,
    "partitions": _partitions,
    "load": _load,
    "bad-input": _bad_input,
    "access": _access,
    "quantum": _quantum,
}


def run_campaigns(
    names: list[str],
    settings: Settings,
    console: Console | None = None,
    campaigns: Mapping[str, Callable[[Settings], list[Outcome]]] = CAMPAIGNS,
) -> list[Outcome]:
    """Run the named campaigns in order; a campaign that raises is a row with that as its violation."""
    rows: list[Outcome] = []
    for name in names:
        if console is not None:
            console.print(f"[bold]{name}[/bold] ...", highlight=False)
        started = time.monotonic()
        try:
            made = campaigns[name](settings)
        except Exception as error:  # a campaign that breaks is a finding, reported in its row
            failed = Outcome(name)
            failed.violate(f"the campaign itself failed: {type(error).__name__}: {error}")
            made = [failed]
        rows.extend(made)
        if console is not None:
            console.print(f"  done in {time.monotonic() - started:.0f} s", highlight=False)
    return rows


def _figure(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def render(rows: list[Outcome], title: str) -> Table:
    """The table: one row per scenario."""
    table = Table(title=title, show_lines=True)
    for column in (
        "scenario",
        "faults injected",
        "requests",
        "invariant violations",
        "errors by kind",
        "p99 ms",
        "RSS MB",
        "WAL MB/h",
        "store MB/h",
    ):
        table.add_column(column, overflow="fold")
    for row in rows:
        errors = "\n".join(f"{n} {k}" for k, n in row.errors.most_common(4))
        if len(row.errors) > 4:
            errors += f"\n(+{len(row.errors) - 4} kinds)"
        violations = str(len(row.violations))
        if row.violations:
            violations = f"[red]{violations}[/red]\n" + "\n".join(sorted(set(row.violations))[:3])
        scenario = (
            row.scenario
            if row.skipped is None
            else f"{row.scenario}\n[yellow]skipped: {row.skipped}[/yellow]"
        )
        table.add_row(
            scenario,
            str(row.faults),
            str(row.requests),
            violations,
            errors or "-",
            _figure(row.p99_ms),
            _figure(row.rss_mb, 0),
            _figure(row.wal_mb_per_hour, 0),
            _figure(row.store_mb_per_hour, 0),
        )
    return table


def cpu_name() -> str:
    """The CPU's model name as /proc/cpuinfo gives it, and the number of cores."""
    import os

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} cores)"
    except OSError:
        pass
    return f"{platform.processor() or 'unknown CPU'} ({os.cpu_count()} cores)"


def write_json(path: Path, rows: list[Outcome], command: str) -> dict[str, Any]:
    """Write the table with its command, date and CPU as JSON; return the document."""
    document = {
        "command": command,
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "cpu": cpu_name(),
        "rows": [row.record() for row in rows],
        "invariant_violations": sum(len(r.violations) for r in rows),
    }
    path.write_text(json.dumps(document, indent=2))
    return document


def markdown_table(document: dict[str, Any]) -> str:
    """The JSON document's table in Markdown (for docs/reliability.md)."""
    head = (
        "| scenario | faults injected | requests | invariant violations | errors by kind (most frequent) "
        "| p99 ms | RSS MB | WAL MB/h | store MB/h |\n|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for row in document["rows"]:
        errors = "; ".join(f"{n} {k}" for k, n in list(row["errors_by_kind"].items())[:3]) or "-"
        scenario = row["scenario"] + (f" (skipped: {row['skipped']})" if row["skipped"] else "")
        figures = [row["p99_latency_ms"], row["rss_mb"], row["wal_mb_per_hour"], row["store_mb_per_hour"]]
        shown = ["-" if f is None else f"{f:,.0f}" for f in figures]
        lines.append(
            f"| {scenario} | {row['faults_injected']} | {row['requests']} | {row['invariant_violations']} "
            f"| {errors} | {' | '.join(shown)} |"
        )
    return head + "\n".join(lines) + "\n"
