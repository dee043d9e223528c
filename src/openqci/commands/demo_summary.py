"""The demonstration's summary on the terminal: links, routes, keys, and the exchange's figures."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from openqci.demo import DemoResult
    from openqci.services.atc import TrackRecords

__all__ = ["print_summary"]


def _table(title: str, columns: list[str]) -> Any:
    from rich.table import Table

    table = Table(title=title)
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right")
    return table


def print_summary(result: DemoResult, tracks: TrackRecords | None, out: Console) -> None:
    """Print the links' key, the routes, every key of the channel, a few decoded tracks and the totals."""
    from openqci.demo import keys_per_hour

    exchange = result.exchange
    links = _table(
        "Key per link (bits; the links the keys crossed, and the cut one)",
        [
            "link",
            "status",
            "made",
            "made in exchange",
            "consumed in exchange",
            "keys",
            "supply/h",
            "needed/h",
        ],
    )
    for f in result.links:
        links.add_row(
            f.link + (" (cut)" if f.link == result.cut_link else ""),
            f.status,
            f"{f.made_bits:,}",
            f"{f.made_during_exchange_bits:,}",
            f"{f.consumed_during_exchange_bits:,}",
            str(f.keys_relayed),
            f"{f.supply_per_hour_bits:,.0f}",
            "-" if f.needed_per_hour_bits != f.needed_per_hour_bits else f"{f.needed_per_hour_bits:,.0f}",
        )
    out.print(links)
    if exchange is None:
        return
    routes = _table("Routes the keys took", ["route", "hops", "keys"])
    for route, count in exchange.routes().items():
        routes.add_row(" > ".join(route) or "(neighbour KMEs)", str(max(len(route) - 1, 0)), str(count))
    out.print(routes)
    keys = _table(
        "Keys of the channel", ["epoch", "from (s)", "key_ID", "kind", "hops", "relay (ms)", "records"]
    )
    for k in exchange.keys:
        keys.add_row(
            str(k.epoch),
            f"{k.started_s:.1f}",
            str(k.key_id)[:8] + "..." if k.key_id else "none",
            k.kind,
            str(max(len(k.route) - 1, 0)),
            f"{k.relay_latency_s * 1e3:.0f}",
            str(k.records),
        )
    out.print(keys)
    if tracks is not None and len(tracks):
        _print_tracks(tracks, out)
    figures = exchange.record()
    latency = figures["latency_ms"]
    hybrid = sum(k.qkd for k in exchange.keys)
    unique = len(set(exchange.sender_key_ids)) == len(exchange.sender_key_ids)
    out.print(
        f"records: {exchange.records_sent:,} sent, {exchange.records_received:,} received, "
        f"{exchange.records_verified:,} verified (identical to what was encoded, CAT062); "
        f"{exchange.tracks_received:,} tracks, {figures['records_per_s']:.1f} records/s, "
        f"{figures['tracks_per_s']:.0f} tracks/s"
    )
    out.print(
        f"keys: {len(exchange.keys)} ({hybrid} hybrid with a QKD key, "
        f"{len(exchange.keys) - hybrid} without), "
        f"{figures['rekeys']} rekeys; same keys at both ends: {figures['same_keys_at_both_ends']}; "
        f"no key_ID used twice: {unique}; pauses for want of key: {exchange.pauses} "
        f"({exchange.paused_s:.1f} s)"
    )
    out.print(
        f"delivery latency: p50 {latency['p50']:.0f} ms, p95 {latency['p95']:.0f} ms, "
        f"max {latency['max']:.0f} ms; "
        f"policy: {keys_per_hour(exchange):,.0f} keys per hour"
    )
    for at, what in exchange.events:
        out.print(f"event at {at:.1f} s: {what}")
    for error in (exchange.sender_error, exchange.receiver_error):
        if error:
            out.print(f"[red]{error}[/red]")
    out.print(
        f"{result.network}: launched in {result.launched_s:.1f} s, {result.total_s:.1f} s in all; "
        f"{result.stopped_processes} processes stopped"
    )


def _print_tracks(tracks: TrackRecords, out: Console) -> None:
    table = _table(
        f"The last record received, decoded at the control centre ({len(tracks)} tracks; the first 5)",
        ["callsign", "track", "Mode 3/A", "FL", "latitude", "longitude", "time of track (UTC)"],
    )
    for i in range(min(5, len(tracks))):
        seconds = float(tracks.time_of_day[i])
        table.add_row(
            str(tracks.callsign[i]),
            str(int(tracks.track_number[i])),
            f"{int(tracks.mode3a[i]):04o}",
            f"{float(tracks.flight_level[i]):.0f}",
            f"{float(tracks.latitude[i]):.4f}",
            f"{float(tracks.longitude[i]):.4f}",
            f"{int(seconds // 3600):02d}:{int(seconds % 3600 // 60):02d}:{seconds % 60:06.3f}",
        )
    out.print(table)
