"""The Prometheus metrics of the network controller, read from its live state at each scrape.

Per link the controller's view (status, key rates, QBER, key at the poorer end), counts of nodes and links
by status, the active alarms by kind, alarms raised so far, reports taken in and routes handed out. The
per-KME figures (requests, relay latency, store) are on each KME's own ``/metrics``; ``docs/metrics.md``
lists them all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from openqci.network.alarms import AlarmKind
from openqci.network.controller import Controller
from openqci.network.topology import LinkStatus, NodeStatus

__all__ = ["controller_registry"]


def controller_registry(controller: Controller) -> CollectorRegistry:
    """A registry whose collector reads ``controller`` at each scrape."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ControllerCollector(controller))
    return registry


class _ControllerCollector(Collector):
    def __init__(self, controller: Controller) -> None:
        self._controller = controller

    def collect(self) -> Iterable[Metric]:
        return [*self._links(), *self._counts()]

    def _links(self) -> list[Metric]:
        labels = ["link", "site_a", "site_b"]
        up = GaugeMetricFamily("openqci_controller_link_up", "1 while the link is up.", labels=labels)
        eskr = GaugeMetricFamily(
            "openqci_controller_link_eskr_bits_per_second",
            "Effective secret key rate of the link, the lower of its ends (GS QKD 015 eskr).",
            labels=labels,
        )
        qber = GaugeMetricFamily(
            "openqci_controller_link_qber_ratio", "The higher QBER its ends report.", labels=labels
        )
        key = GaugeMetricFamily(
            "openqci_controller_link_key_in_store_bits", "Key available at the poorer end.", labels=labels
        )
        expected = GaugeMetricFamily(
            "openqci_controller_link_expected_skr_bits_per_second",
            "Secret key rate the scenario's physics predicts for the link.",
            labels=labels,
        )
        for view in self._controller.links():
            link = view.link
            values = [link.qkdl_id, link.local_qkdn_id, link.remote_qkdn_id]
            up.add_metric(values, 1.0 if view.status is LinkStatus.UP else 0.0)
            expected.add_metric(values, link.expected_skr_bps)
            if view.state is not None:
                eskr.add_metric(values, view.state.key_rate_bps)
                qber.add_metric(values, view.state.qber)
                key.add_metric(values, view.state.available_key_bits)
        return [up, eskr, qber, key, expected]

    def _counts(self) -> list[Metric]:
        controller = self._controller
        nodes = Counter(view.status for view in controller.nodes())
        links = Counter(view.status for view in controller.links())
        active, _ = controller.alarms()
        kinds = Counter(alarm.kind for alarm in active)
        node_family = GaugeMetricFamily("openqci_controller_nodes", "KMEs by status.", labels=["status"])
        for node_status in NodeStatus:
            node_family.add_metric([str(node_status)], nodes[node_status])
        link_family = GaugeMetricFamily("openqci_controller_links", "Links by status.", labels=["status"])
        for link_status in LinkStatus:
            link_family.add_metric([str(link_status)], links[link_status])
        alarms = GaugeMetricFamily("openqci_controller_alarms_active", "Active alarms.", labels=["kind"])
        raised = CounterMetricFamily("openqci_controller_alarms_raised", "Alarms raised.", labels=["kind"])
        for kind in AlarmKind:
            alarms.add_metric([str(kind)], kinds[kind])
            raised.add_metric([str(kind)], controller.alarms_raised[kind])
        reports = CounterMetricFamily("openqci_controller_reports", "Link-end reports taken in.")
        reports.add_metric([], controller.reports)
        routes = CounterMetricFamily(
            "openqci_controller_routes", "Routes asked for relays, by outcome.", labels=["outcome"]
        )
        records = controller.route_counts
        routes.add_metric(["routed"], records[0])
        routes.add_metric(["refused"], records[1])
        return [node_family, link_family, alarms, raised, reports, routes]
