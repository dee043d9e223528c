"""``openqci network status --watch``: the dashboard's figures as a live terminal view (rich Live).

For operators without a browser: the links (status, effective key rate, QBER, key in store, alarms), the
KMEs (key in store, key delivered), the active and recently cleared alarms and the simulated attacks,
redrawn every ``interval_s`` from the controller until Ctrl-C.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from openqci.network.controller_client import ControllerClient
from openqci.network.statedir import StateDir, read_channel_events

__all__ = ["render_state", "watch_network"]

_STYLE = {"up": "green", "down": "bold red", "unknown": "dim"}


def watch_network(layout: StateDir, console: Console, *, interval_s: float = 1.0) -> None:
    """Redraw the state of the network running from ``layout`` every ``interval_s`` until Ctrl-C."""
    with ControllerClient.from_state_dir(layout) as client:
        view = render_state(client.state(), _attacks(layout))
        with Live(view, console=console, screen=False, auto_refresh=False) as live:
            try:
                while True:
                    time.sleep(interval_s)
                    live.update(render_state(client.state(), _attacks(layout)), refresh=True)
            except KeyboardInterrupt:
                return


def render_state(document: dict[str, Any], attacks: dict[str, str]) -> Group:
    """The view of one ``/api/v1/state`` document and the attacks in force, by link."""
    links = document["links"]
    up = sum(link["qkdl_status"] == "up" for link in links)
    active = document["alarms"]["active"]
    title = Text.assemble(
        (f"{document['network']}  ", "bold"),
        f"links up {up}/{len(links)}  ",
        (f"alarms {len(active)}", "bold red" if active else "green"),
        f"  {datetime.now(UTC):%H:%M:%S} UTC",
    )
    return Group(
        Panel(title, expand=True),
        _links(links, attacks),
        _kmes(document),
        _alarms(document),
    )


def _links(links: list[dict[str, Any]], attacks: dict[str, str]) -> Table:
    table = Table(title="Links", expand=True, title_justify="left")
    for name, justify in (
        ("link", "left"),
        ("status", "left"),
        ("eff. key rate", "right"),
        ("QBER", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for name in ("key in store", "alarms", "attack"):
        table.add_column(name, justify="right" if name == "key in store" else "left")
    for link in links:
        status = link["qkdl_status"]
        table.add_row(
            link["qkdl_id"],
            Text(status, style=_STYLE.get(status, "")),
            _rate(link["eskr_bps"]),
            "-" if link["qber"] is None else f"{100 * link['qber']:.2f} %",
            _bits(link["available_key_bits"]),
            Text(", ".join(a["kind"] for a in link["alarms"]), style="bold red"),
            Text(attacks.get(link["qkdl_id"], ""), style="magenta"),
        )
    return table


def _kmes(document: dict[str, Any]) -> Table:
    table = Table(title="KMEs", expand=True, title_justify="left")
    for name in ("KME", "status", "key in store", "key delivered"):
        table.add_column(name, justify="left" if name in ("KME", "status") else "right")
    for node in document["nodes"]:
        name = node["qkdn_id"]
        mine = [link for link in document["links"] if name in link["available_key_bits_by_end"]]
        key = sum(link["available_key_bits_by_end"][name] for link in mine)
        used = sum(link["consumed_key_bits_by_end"].get(name, 0) for link in mine)
        status = node["qkdn_status"]
        table.add_row(name, Text(status, style=_STYLE.get(status, "")), _bits(key), _bits(used))
    return table


def _alarms(document: dict[str, Any]) -> Table:
    table = Table(title="Alarms (active, then recently cleared)", expand=True, title_justify="left")
    for name in ("link", "alarm", "raised", "cleared", "why"):
        table.add_column(name)
    for alarm in document["alarms"]["active"]:
        table.add_row(
            alarm["link"],
            Text(alarm["kind"], style="bold red"),
            alarm["raised_at"][11:19],
            "",
            alarm["message"],
        )
    for alarm in list(reversed(document["alarms"]["cleared"]))[:5]:
        table.add_row(
            alarm["link"],
            Text(alarm["kind"], style="dim"),
            alarm["raised_at"][11:19],
            (alarm["cleared_at"] or "")[11:19],
            Text(alarm["message"], style="dim"),
        )
    return table


def _attacks(layout: StateDir) -> dict[str, str]:
    """The eavesdropper or cut last put on each link and not taken off."""
    found = {}
    for path in sorted((layout.root / "links").glob("*.channel.json")):
        link = path.name.removesuffix(".channel.json")
        events = read_channel_events(layout, link)
        if events and events[-1].cut:
            found[link] = "fibre cut"
        elif events and events[-1].intercept_resend > 0:
            found[link] = f"intercept-resend {events[-1].intercept_resend:.0%}"
    return found


def _rate(bps: float | None) -> str:
    return "-" if bps is None else f"{_si(bps)}bit/s"


def _bits(bits: int | None) -> str:
    return "-" if bits is None else f"{_si(bits)}bit"


def _si(value: float) -> str:
    for factor, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}"
    return f"{value:.0f} "
