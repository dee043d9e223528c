"""``python -m reliability`` (``./run reliability``): run the campaigns and print one table.

Options shorten or lengthen each campaign; ``--soak`` adds the ten-minute soak. The exit status is 1 when
any invariant was violated, 2 for bad options.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from rich.console import Console

from reliability.runner import CAMPAIGNS, Settings, cpu_name, render, run_campaigns, write_json


def _parser() -> argparse.ArgumentParser:
    defaults = Settings()
    parser = argparse.ArgumentParser(prog="./run reliability", description=__doc__)
    parser.add_argument(
        "--only", default=",".join(CAMPAIGNS), help=f"comma-separated, of: {', '.join(CAMPAIGNS)}"
    )
    parser.add_argument("--kills", type=int, default=defaults.kills, help="SIGKILLs per store backend")
    parser.add_argument(
        "--network-kills",
        type=int,
        default=defaults.network_kills,
        help="SIGKILLs of a launched line's sites",
    )
    parser.add_argument("--cuts", type=int, default=defaults.cuts, help="link cuts in the partition campaign")
    parser.add_argument("--load-s", type=float, default=defaults.load_s, help="seconds of mixed load")
    parser.add_argument("--soak", action="store_true", help="add the 10-minute soak")
    parser.add_argument("--soak-s", type=float, default=600.0, help="length of the soak with --soak")
    parser.add_argument(
        "--examples", type=int, default=defaults.examples, help="schemathesis cases per operation"
    )
    parser.add_argument("--idle", type=int, default=defaults.idle, help="idle connections held open")
    parser.add_argument(
        "--quantum-blocks", type=int, default=defaults.quantum_blocks, help="blocks per eavesdropper"
    )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--json", type=Path, default=Path("reliability.json"), help="where the table goes as JSON"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in CAMPAIGNS]
    if unknown or not names:
        print(
            f"run reliability: error: unknown campaign {', '.join(unknown) or '(none)'}; "
            f"choose from {', '.join(CAMPAIGNS)}",
            file=sys.stderr,
        )
        return 2
    if (
        min(args.kills, args.network_kills, args.cuts, args.examples, args.idle, args.quantum_blocks) < 0
        or args.load_s <= 0
    ):
        print("run reliability: error: counts must be >= 0 and --load-s > 0", file=sys.stderr)
        return 2
    settings = replace(
        Settings(),
        kills=args.kills,
        network_kills=args.network_kills,
        cuts=args.cuts,
        load_s=args.load_s,
        soak_s=args.soak_s if args.soak else 0.0,
        examples=args.examples,
        idle=args.idle,
        quantum_blocks=args.quantum_blocks,
        seed=args.seed,
    )
    console = Console() if sys.stdout.isatty() else Console(width=200)
    rows = run_campaigns(names, settings, console)
    command = "./run reliability " + " ".join(argv if argv is not None else sys.argv[1:])
    document = write_json(args.json, rows, command.strip())
    console.print(render(rows, f"Reliability campaigns, {document['date_utc']} UTC, {cpu_name()}"))
    console.print(
        f"JSON: {args.json}   invariant violations: {document['invariant_violations']}", highlight=False
    )
    return 1 if document["invariant_violations"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
