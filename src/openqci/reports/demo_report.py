"""The demonstration's report: one HTML file that opens offline, its figures inline SVG drawn by matplotlib.

Nothing in the page is fetched: no script, no stylesheet or font from elsewhere; the figures' text is drawn
as paths (matplotlib's ``svg.fonttype`` ``path``). The page shows the exchange over time (records sent and
received each second, the keys' epochs, pauses and the cut fibre), the records' delivery latency, the key
each link made and spent, and the same tables as the terminal summary.
"""

from __future__ import annotations

import html
import io
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openqci.demo.figures import DemoResult
    from openqci.services.atc.asterix_062 import TrackRecords
    from openqci.services.atc.exchange import ExchangeResult

__all__ = ["write_demo_report"]

_STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.8em; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #bbb; padding: 0.2em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #eee; }
.figures td:first-child { font-weight: bold; }
.bad { color: #b00; font-weight: bold; }
svg { max-width: 100%; height: auto; }
"""


def write_demo_report(result: DemoResult, path: Path, *, tracks: TrackRecords | None = None) -> Path:
    """Write the report of ``result`` to ``path`` (its folder must exist) and return the path."""
    parts = [
        f"<h1>OpenQCI demonstration: {html.escape(result.network)}</h1>",
        f"<p>Run of {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: the network launched in "
        f"{result.launched_s:.1f} s, {result.total_s:.1f} s from launch to the figures; "
        f"{result.stopped_processes} processes stopped afterwards.</p>",
    ]
    exchange = result.exchange
    if exchange is not None:
        parts += [
            "<h2>The exchange</h2>",
            _figures_table(result, exchange),
            _svg(_timeline_figure(exchange)),
            _svg(_latency_figure(exchange)),
        ]
    parts += ["<h2>Key per link</h2>", _links_table(result)]
    if result.links:
        parts.append(_svg(_links_figure(result)))
    if exchange is not None:
        parts += ["<h2>Routes the keys took</h2>", _routes_table(exchange)]
        parts += ["<h2>Keys of the channel</h2>", _keys_table(exchange)]
    if tracks is not None and len(tracks):
        parts += ["<h2>The last record, decoded at the control centre</h2>", _tracks_table(tracks)]
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>OpenQCI demonstration: {html.escape(result.network)}</title><style>{_STYLE}</style>"
        "</head><body>\n" + "\n".join(parts) + "\n</body></html>\n"
    )
    path.write_text(page, encoding="utf-8")
    return path


def _table(header: list[str], rows: list[list[Any]], css: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    klass = f' class="{css}"' if css else ""
    return f"<table{klass}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figures_table(result: DemoResult, exchange: ExchangeResult) -> str:
    from openqci.demo.figures import keys_per_hour

    figures = exchange.record()
    latency = figures["latency_ms"]
    hybrid = sum(k.qkd for k in exchange.keys)
    rows = [
        [
            "records sent / received / verified",
            f"{exchange.records_sent:,} / {exchange.records_received:,} / {exchange.records_verified:,}",
        ],
        [
            "tracks (CAT062 records) sent / received",
            f"{exchange.tracks_sent:,} / {exchange.tracks_received:,}",
        ],
        ["records per second", f"{figures['records_per_s']:.1f} ({figures['tracks_per_s']:.0f} tracks/s)"],
        [
            "delivery latency p50 / p95 / max",
            f"{latency['p50']:.0f} / {latency['p95']:.0f} / {latency['max']:.0f} ms",
        ],
        ["keys (rekeys)", f"{len(exchange.keys)} ({figures['rekeys']})"],
        ["hybrid keys with a QKD key", f"{hybrid} of {len(exchange.keys)}"],
        ["same keys at both ends", str(figures["same_keys_at_both_ends"])],
        ["pauses for want of key", f"{exchange.pauses} ({exchange.paused_s:.1f} s)"],
        ["keys per hour at the rekey policy", f"{keys_per_hour(exchange):,.0f}"],
        ["fibre cut", result.cut_link or "none"],
        ["every record arrived intact", str(exchange.complete)],
    ]
    for error in (exchange.sender_error, exchange.receiver_error):
        if error:
            rows.append(["error", error])
    return _table(["figure", "value"], rows, "figures")


def _links_table(result: DemoResult) -> str:
    rows = [
        [
            f.link + (" (cut)" if f.link == result.cut_link else ""),
            f.status,
            f"{f.made_bits:,}",
            f"{f.made_during_exchange_bits:,}",
            f"{f.consumed_during_exchange_bits:,}",
            f.keys_relayed,
            f"{f.supply_per_hour_bits:,.0f}",
            "-" if math.isnan(f.needed_per_hour_bits) else f"{f.needed_per_hour_bits:,.0f}",
        ]
        for f in result.links
    ]
    header = [
        "link",
        "status",
        "made (bits)",
        "made in exchange",
        "consumed in exchange",
        "keys relayed",
        "supply per hour",
        "needed per hour at the policy",
    ]
    return _table(header, rows)


def _routes_table(exchange: ExchangeResult) -> str:
    rows = [
        [" > ".join(r) or "(neighbour KMEs)", max(len(r) - 1, 0), n] for r, n in exchange.routes().items()
    ]
    return _table(["route", "hops", "keys"], rows)


def _keys_table(exchange: ExchangeResult) -> str:
    rows = [
        [
            k.epoch,
            f"{k.started_s:.1f}",
            str(k.key_id) if k.key_id else "none (post-quantum only)",
            k.kind,
            max(len(k.route) - 1, 0),
            f"{k.relay_latency_s * 1e3:.0f}",
            k.records,
        ]
        for k in exchange.keys
    ]
    return _table(["epoch", "from (s)", "QKD key_ID", "kind", "hops", "relay (ms)", "records"], rows)


def _tracks_table(tracks: TrackRecords) -> str:
    rows = [
        [
            str(tracks.callsign[i]),
            int(tracks.track_number[i]),
            f"{int(tracks.mode3a[i]):04o}",
            f"{float(tracks.flight_level[i]):.0f}",
            f"{float(tracks.latitude[i]):.4f}",
            f"{float(tracks.longitude[i]):.4f}",
        ]
        for i in range(len(tracks))
    ]
    return _table(["callsign", "track", "Mode 3/A", "FL", "latitude", "longitude"], rows)


_NO_METADATA = {"Creator": None, "Date": None, "Format": None, "Type": None}
"""No RDF block in the SVGs: the page then names no address beyond the SVG and XLink namespaces."""


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.fonttype"] = "path"
    import matplotlib.pyplot as plt

    return plt


def _svg(figure: Any) -> str:
    """The figure as SVG markup for inlining (the XML prologue dropped), then closed."""
    plt = _pyplot()
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata=_NO_METADATA)
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _marks(axes: Any, exchange: ExchangeResult) -> None:
    """Epoch starts (dotted), pauses (shaded) and events (red) on a time axis."""
    for key in exchange.keys:
        axes.axvline(key.started_s, color="0.7", linestyle=":", linewidth=0.8)
    for second in exchange.timeline:
        if second.paused:
            axes.axvspan(second.second, second.second + 1, color="orange", alpha=0.3, linewidth=0)
    for at, what in exchange.events:
        axes.axvline(at, color="red", linewidth=1.5)
        axes.annotate(
            what,
            (at, 1.0),
            xycoords=("data", "axes fraction"),
            color="red",
            fontsize=8,
            xytext=(3, -12),
            textcoords="offset points",
        )


def _timeline_figure(exchange: ExchangeResult) -> Any:
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(9, 3.2), dpi=100)
    seconds = [s.second for s in exchange.timeline]
    axes.step(seconds, [s.sent for s in exchange.timeline], where="post", label="records sent")
    axes.step(
        seconds,
        [s.received for s in exchange.timeline],
        where="post",
        label="records received",
        linestyle="--",
    )
    _marks(axes, exchange)
    axes.set_xlabel("time since the exchange began (s); dotted: a new key; shaded: paused for want of key")
    axes.set_ylabel("records per second")
    axes.set_ylim(bottom=0)
    axes.legend(loc="lower left", fontsize=8)
    return figure


def _latency_figure(exchange: ExchangeResult) -> Any:
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(9, 3.0), dpi=100)
    seconds = [s.second for s in exchange.timeline if s.received]
    axes.plot(seconds, [s.latency_mean_s * 1e3 for s in exchange.timeline if s.received], label="mean")
    axes.plot(
        seconds, [s.latency_max_s * 1e3 for s in exchange.timeline if s.received], label="max", linestyle="--"
    )
    _marks(axes, exchange)
    axes.set_yscale("log")
    axes.set_xlabel("time since the exchange began (s)")
    axes.set_ylabel("delivery latency (ms)")
    axes.legend(loc="lower left", fontsize=8)
    return figure


def _links_figure(result: DemoResult) -> Any:
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(9, 0.28 * len(result.links) + 1.2), dpi=100)
    names = [f.link for f in result.links]
    rows = range(len(names))
    axes.barh(
        [r + 0.2 for r in rows],
        [f.made_during_exchange_bits for f in result.links],
        height=0.4,
        label="made during the exchange",
    )
    axes.barh(
        [r - 0.2 for r in rows],
        [f.consumed_during_exchange_bits for f in result.links],
        height=0.4,
        label="consumed by the exchange",
    )
    axes.set_yticks(list(rows), names, fontsize=7)
    axes.invert_yaxis()
    axes.set_xscale("symlog", linthresh=1000)
    axes.set_xlabel("key bits")
    axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return figure
