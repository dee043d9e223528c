"""The network controller: owns the live topology, takes reports, raises alarms and answers route requests.

The controller is the only stateful piece of the control layer. It is built from the scenario (which nodes
and links exist, their lengths and expected key rates) and receives its clock; it stores the latest report
of every node and link end and the alarms. Everything it answers is computed from that state by pure
functions: link status and routing states (:mod:`openqci.network.topology`), alarms
(:mod:`openqci.network.alarms`) and routes (:func:`openqci.network.routing.choose_route`). State is
re-evaluated at every report and every read, so a link whose end has gone silent turns down and raises its
alarm even when nobody reports any more. The KMEs' key relay asks it for a route per request.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import networkx as nx

from openqci.network.alarms import Alarm, AlarmKind, AlarmRules, alarm_conditions, update_alarms
from openqci.network.errors import NetworkError, UnknownLinkError
from openqci.network.routing import LinkState, Route, build_graph, choose_route
from openqci.network.supply import expected_supply
from openqci.network.topology import (
    LinkEndReport,
    LinkStatus,
    NodeReport,
    NodeStatus,
    QkdLink,
    QkdNode,
    link_status,
    node_status,
    routing_state,
)
from openqci.ops.events import Event, log_event
from openqci.scenario import Scenario

__all__ = ["Clock", "Controller", "LinkView", "NodeView", "RouteRecord"]

_log = logging.getLogger("openqci.network.controller")

Clock = Callable[[], float]
"""Seconds since the Unix epoch (``time.time`` in a running controller, a fake in tests)."""

_HISTORY = 200
"""Cleared alarms kept for display."""

_ROUTES_KEPT = 50
"""Routes handed out for relays, kept for display (newest last)."""


@dataclass(frozen=True)
class RouteRecord:
    """A route the controller handed out for a relay (or the reason it had none)."""

    at_s: float
    source_kme: str
    destination_kme: str
    key_bits: int
    kmes: tuple[str, ...]
    error: str | None = None


@dataclass(frozen=True)
class NodeView:
    """A node with its status at the time of the read."""

    node: QkdNode
    status: NodeStatus


@dataclass(frozen=True)
class LinkView:
    """A link with its status, routing state and active alarms at the time of the read."""

    link: QkdLink
    status: LinkStatus
    state: LinkState | None
    alarms: tuple[Alarm, ...]


class Controller:
    """The live topology of one network; safe to call from several threads."""

    def __init__(self, scenario: Scenario, *, rules: AlarmRules, clock: Clock) -> None:
        self.scenario = scenario
        self.rules = rules
        self._clock = clock
        self._lock = threading.Lock()
        self._graph = build_graph(scenario)
        self._nodes = {
            s.name: QkdNode(s.name, tuple(str(r) for r in s.roles), s.latitude_deg, s.longitude_deg)
            for s in scenario.kme_sites
        }
        self._links = {
            supply.link: QkdLink(
                supply.link,
                supply.site_a,
                supply.site_b,
                supply.length_km,
                supply.preset,
                supply.expected_key_rate_bps,
            )
            for supply in expected_supply(scenario)
        }
        self._active: dict[tuple[AlarmKind, str], Alarm] = {}
        self._history: list[Alarm] = []
        self._status = {name: LinkStatus.UNKNOWN for name in self._links}
        self._routes: deque[RouteRecord] = deque(maxlen=_ROUTES_KEPT)
        self.reports = 0
        self.route_counts = [0, 0]
        """Routes handed out, and route requests refused, since the controller started."""
        self.alarms_raised: dict[AlarmKind, int] = dict.fromkeys(AlarmKind, 0)

    # -- reports ----------------------------------------------------------------------------------------

    def report_node(self, report: NodeReport) -> None:
        """Record that a KME site runs and where its API listens."""
        with self._lock:
            node = self._nodes.get(report.qkdn_id)
            if node is None:
                raise UnknownLinkError(
                    f"unknown KME {report.qkdn_id!r}; known: {', '.join(sorted(self._nodes))}"
                )
            self._nodes[report.qkdn_id] = replace(node, kme_url=report.kme_url, reported_at_s=self._clock())

    def report_link_end(self, report: LinkEndReport) -> None:
        """Record one end's view of a link, then re-evaluate the alarms."""
        with self._lock:
            link = self._link_named(report.qkdl_id)
            if report.qkdn_id not in link.end_ids:
                raise UnknownLinkError(
                    f"KME {report.qkdn_id!r} is not an end of link {link.qkdl_id!r} "
                    f"({', '.join(link.end_ids)})"
                )
            now = self._clock()
            self.reports += 1
            self._links[link.qkdl_id] = replace(
                link,
                ends={**link.ends, report.qkdn_id: report},
                reported_at_s={**link.reported_at_s, report.qkdn_id: now},
            )
            self._refresh(now)

    # -- reads ------------------------------------------------------------------------------------------

    def nodes(self) -> list[NodeView]:
        """Every KME site, in scenario order, with its status now."""
        with self._lock:
            now = self._clock()
            return [NodeView(n, node_status(n, now, self.rules.stale_after_s)) for n in self._nodes.values()]

    def links(self) -> list[LinkView]:
        """Every fibre link, in scenario order, with its status, routing state and alarms now."""
        with self._lock:
            now = self._refresh(self._clock())
            return [self._view(link, now) for link in self._links.values()]

    def alarms(self) -> tuple[list[Alarm], list[Alarm]]:
        """The active alarms (oldest first) and the most recently cleared ones (newest last)."""
        with self._lock:
            self._refresh(self._clock())
            active = sorted(self._active.values(), key=lambda a: (a.raised_at_s, a.link, a.kind))
            return active, list(self._history)

    def link_states(self) -> dict[str, LinkState]:
        """The routing state of every link that both ends have reported on."""
        return {view.link.qkdl_id: view.state for view in self.links() if view.state is not None}

    def route(
        self, source_kme: str, destination_kme: str, key_bits: int, *, avoid: Sequence[str] = ()
    ) -> Route:
        """The route :func:`choose_route` picks over the live link states, using none of ``avoid``.

        A relay that failed on a link asks again with that link in ``avoid``: the controller may not know
        yet why it failed (a node that stopped answering, a tag that did not verify), so the link is taken
        as down for this request.

        Raises
        ------
        UnknownKmeError, NoRouteError
            As :func:`openqci.network.routing.choose_route` does.
        UnknownLinkError
            If ``avoid`` names a link the network does not have.
        """
        states = self.link_states()
        for name in avoid:
            self._link_named(name)
            if name in states:
                states[name] = replace(states[name], up=False, relays_stored_key=False)
        try:
            route = choose_route(self._graph, states, source_kme, destination_kme, key_bits)
        except NetworkError as error:
            self.route_counts[1] += 1
            self._routes.append(
                RouteRecord(self._clock(), source_kme, destination_kme, key_bits, (), error=str(error))
            )
            raise
        self.route_counts[0] += 1
        self._routes.append(RouteRecord(self._clock(), source_kme, destination_kme, key_bits, route.kmes))
        return route

    def recent_routes(self) -> list[RouteRecord]:
        """The routes most recently handed out for relays (and refusals), newest last."""
        with self._lock:
            return list(self._routes)

    @property
    def graph(self) -> nx.Graph:
        """The routing graph (KME sites and fibre links)."""
        return self._graph

    # -- private ----------------------------------------------------------------------------------------

    def _link_named(self, name: str) -> QkdLink:
        link = self._links.get(name)
        if link is None:
            raise UnknownLinkError(
                f"unknown link {name!r}; the network's links are: {', '.join(self._links)}"
            )
        return link

    def _refresh(self, now: float) -> float:
        """Raise and clear alarms for the state at ``now`` (the lock is held); return ``now``."""
        update = update_alarms(self._active, alarm_conditions(self._links.values(), self.rules, now), now)
        self._active = update.active
        self._history = [*self._history, *update.cleared][-_HISTORY:]
        for alarm in update.raised:
            self.alarms_raised[alarm.kind] += 1
            log_event(
                _log,
                Event.ALARM_RAISED,
                f"{alarm.kind} on {alarm.link}: {alarm.message}",
                level=logging.WARNING,
                link=alarm.link,
                alarm=str(alarm.kind),
                reason=alarm.message,
            )
        for alarm in update.cleared:
            log_event(
                _log,
                Event.ALARM_CLEARED,
                f"{alarm.kind} on {alarm.link} cleared after "
                f"{(alarm.cleared_at_s or now) - alarm.raised_at_s:.0f} s",
                link=alarm.link,
                alarm=str(alarm.kind),
            )
        self._log_status_changes(now)
        return now

    def _log_status_changes(self, now: float) -> None:
        """One event per link that went up or down since the last evaluation (the lock is held)."""
        for name, link in self._links.items():
            status = link_status(link, now, self.rules.stale_after_s)
            before, self._status[name] = self._status[name], status
            if status is before or status is LinkStatus.UNKNOWN:
                continue
            if status is LinkStatus.UP:
                log_event(_log, Event.LINK_UP, f"link {name} is up", link=name, was=str(before))
            else:
                why = _down_message_of(self._active.get((AlarmKind.LINK_DOWN, name)))
                log_event(
                    _log,
                    Event.LINK_DOWN,
                    f"link {name} is down: {why}",
                    level=logging.WARNING,
                    link=name,
                    reason=why,
                )

    def _view(self, link: QkdLink, now: float) -> LinkView:
        alarms = tuple(a for a in self._active.values() if a.link == link.qkdl_id)
        alarmed = any(a.kind is AlarmKind.QBER_HIGH for a in alarms)
        status = link_status(link, now, self.rules.stale_after_s)
        state = routing_state(
            link,
            now,
            self.rules.stale_after_s,
            alarmed=alarmed,
            stored_key_when_down=self.scenario.routing.stored_key_over_down_links,
        )
        return LinkView(link, status, state, alarms)


def _down_message_of(alarm: Alarm | None) -> str:
    return "no report" if alarm is None else alarm.message
