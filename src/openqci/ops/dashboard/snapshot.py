"""What the dashboard shows, built from the controller's live state: one JSON document per update.

A snapshot holds every node (with its coordinates and the key its link ends hold), every link (status, key
rates, QBER, key in store, alarms, and the eavesdropper or cut on it), the active alarms and the recent
history of cleared ones, the routes recently handed out for relays, and the simulated attacks in force.
Attacks are read from the network's state directory (``links/LINK.channel.json``, written by
``openqci network attack``); a controller run without one shows none. Each snapshot also feeds the plots'
:class:`~openqci.ops.dashboard.history.History`.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, Protocol

from openqci.network.alarms import Alarm, AlarmKind
from openqci.network.controller import Clock, Controller, LinkView, RouteRecord
from openqci.network.errors import NetworkError
from openqci.network.link_simulator import LinkPlan
from openqci.network.statedir import StateDir, read_channel_events, read_plans
from openqci.ops.dashboard.history import History

__all__ = ["SnapshotSource", "Snapshots"]


class Snapshots(Protocol):
    """What the dashboard reads: a launched network (:class:`SnapshotSource`) or a recorded twin run
    (:class:`openqci.planner.replay.ReplaySource`)."""

    def snapshot(self, *, with_history: bool = False) -> dict[str, Any]:
        """The network now, as one JSON-ready document; ``with_history`` adds every plot's series."""
        ...


class SnapshotSource:
    """Builds snapshots of ``controller``'s network (attacks from ``layout``, when given)."""

    def __init__(
        self,
        controller: Controller,
        layout: StateDir | None,
        *,
        clock: Clock,
        history: History | None = None,
    ) -> None:
        self.controller = controller
        self.layout = layout
        self.history = history or History()
        self._clock = clock
        self._plans: dict[str, LinkPlan] = {}
        if layout is not None:
            try:
                self._plans = read_plans(layout)
            except (OSError, ValueError, NetworkError):
                self._plans = {}

    def snapshot(self, *, with_history: bool = False) -> dict[str, Any]:
        """The network now; ``with_history`` adds every plot's series (for a page that just opened)."""
        now = self._clock()
        links = [self._link(view, now) for view in self.controller.links()]
        nodes = self._nodes(links)
        active, cleared = self.controller.alarms()
        if self.history.due(now):
            self.history.add(now, _samples(links, nodes))
        document: dict[str, Any] = {
            "network": self.controller.scenario.name,
            "now_s": now,
            "read_at": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
            "nodes": nodes,
            "links": links,
            "alarms": {
                "active": [_alarm(a) for a in active],
                "cleared": [_alarm(a) for a in reversed(cleared[-50:])],
            },
            "routes": [_route(r) for r in reversed(self.controller.recent_routes()[-20:])],
            "attacks": [link["attack"] | {"link": link["id"]} for link in links if link["attack"]],
        }
        if with_history:
            document["history"] = self.history.series()
        return document

    def _link(self, view: LinkView, now: float) -> dict[str, Any]:
        link, state = view.link, view.state
        ends = link.ends.values()
        return {
            "id": link.qkdl_id,
            "a": link.local_qkdn_id,
            "b": link.remote_qkdn_id,
            "status": str(view.status),
            "length_km": link.length_km,
            "preset": link.preset,
            "expected_skr_bps": link.expected_skr_bps,
            "skr_bps": min((r.skr_bps for r in ends), default=None) if state else None,
            "eskr_bps": state.key_rate_bps if state else None,
            "qber": state.qber if state else None,
            "key_bits": state.available_key_bits if state else None,
            "key_bits_by_end": {e: r.available_key_bits for e, r in link.ends.items()},
            "made_bits_by_end": {e: r.made_key_bits for e, r in link.ends.items()},
            "consumed_bits_by_end": {e: r.consumed_key_bits for e, r in link.ends.items()},
            "alarms": sorted(str(a.kind) for a in view.alarms),
            "routable": bool(state and state.up),
            "attack": self._attack(link.qkdl_id, now),
        }

    def _attack(self, link: str, now: float) -> dict[str, Any] | None:
        """The eavesdropper or cut most recently put on ``link``, if it has not been taken off."""
        if self.layout is None or not self.layout.channel_file(link).exists():
            return None
        try:
            events = read_channel_events(self.layout, link)
        except (OSError, ValueError):
            return None
        if not events or (events[-1].intercept_resend == 0.0 and not events[-1].cut):
            return None
        last = events[-1]
        plan = self._plans.get(link)
        in_effect = plan is None or plan.blocks_due(now) >= last.from_block
        kind = "fibre-cut" if last.cut else "intercept-resend"
        return asdict(last) | {"kind": kind, "in_effect": in_effect}

    def _nodes(self, links: list[dict[str, Any]]) -> list[dict[str, Any]]:
        nodes = []
        for view in self.controller.nodes():
            name = view.node.qkdn_id
            mine = [link for link in links if name in (link["a"], link["b"])]
            nodes.append(
                {
                    "id": name,
                    "status": str(view.status),
                    "roles": list(view.node.roles),
                    "lat": view.node.latitude_deg,
                    "lon": view.node.longitude_deg,
                    "url": view.node.kme_url,
                    "links": [link["id"] for link in mine],
                    "key_bits": sum(link["key_bits_by_end"].get(name, 0) for link in mine),
                    "made_bits": sum(link["made_bits_by_end"].get(name, 0) for link in mine),
                    "consumed_bits": sum(link["consumed_bits_by_end"].get(name, 0) for link in mine),
                }
            )
        return nodes


def _samples(links: list[dict[str, Any]], nodes: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Per link (effective key rate, key in store, QBER) and per KME (key in store, key consumed)."""
    samples: dict[str, list[float]] = {
        f"link:{link['id']}": [link["eskr_bps"] or 0.0, link["key_bits"] or 0, link["qber"] or 0.0]
        for link in links
    }
    for node in nodes:
        samples[f"kme:{node['id']}"] = [node["key_bits"], node["consumed_bits"]]
    return samples


def _alarm(alarm: Alarm) -> dict[str, Any]:
    return {
        "kind": str(alarm.kind),
        "link": alarm.link,
        "message": alarm.message,
        "raised_s": alarm.raised_at_s,
        "cleared_s": alarm.cleared_at_s,
        "severity": "critical" if alarm.kind in (AlarmKind.QBER_HIGH, AlarmKind.LINK_DOWN) else "warning",
    }


def _route(record: RouteRecord) -> dict[str, Any]:
    return {
        "at_s": record.at_s,
        "from": record.source_kme,
        "to": record.destination_kme,
        "key_bits": record.key_bits,
        "kmes": list(record.kmes),
        "error": record.error,
    }
