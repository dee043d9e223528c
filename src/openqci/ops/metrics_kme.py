"""The Prometheus metrics of one KME: ETSI 014 requests, relay latency, key in store, store and WAL size.

Each KME owns a :class:`KmeMetrics` with its own registry, and serves it at ``/metrics`` on its own port;
several KMEs run in one process, so every series also carries the ``kme`` label. Counters of requests and
relays are updated where they happen; the figures of the key store (key in store, key generated and
consumed per link, file sizes) are read from the store when Prometheus scrapes, through the callbacks the
KME hands in, so a scrape shows the store as it is and costs nothing between scrapes.

Names follow ETSI GS QKD 015's link performance (``skr``, ``eskr``, QBER) and key accounting where it has
them, and end in their unit; ``docs/metrics.md`` lists them all. Only :mod:`prometheus_client` is imported,
so the key management layer loads no part of the network layer with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["KmeMetrics", "LinkKeyCounts", "StoreFigures"]

_LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class LinkKeyCounts:
    """Key of one link in a KME's store, in bits: available to this end, generated, consumed."""

    link: str
    available_bits: int
    generated_bits: int
    consumed_bits: int


@dataclass(frozen=True)
class StoreFigures:
    """What a scrape reads from the key store."""

    links: tuple[LinkKeyCounts, ...]
    store_bytes: int
    wal_bytes: int


class KmeMetrics:
    """The metrics of the KME ``kme``; ``read_store`` is called at each scrape (from a worker thread)."""

    def __init__(self, kme: str, read_store: Callable[[], StoreFigures] | None = None) -> None:
        self.kme = kme
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "openqci_etsi014_requests",
            "ETSI GS QKD 014 requests answered, by endpoint and HTTP status.",
            ["kme", "endpoint", "status"],
            registry=self.registry,
        )
        self.errors = Counter(
            "openqci_etsi014_errors",
            "ETSI GS QKD 014 requests refused, by endpoint, HTTP status and error class.",
            ["kme", "endpoint", "status", "error"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "openqci_etsi014_request_duration_seconds",
            "Time to answer an ETSI GS QKD 014 request.",
            ["kme", "endpoint"],
            buckets=_LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.relay_seconds = Histogram(
            "openqci_relay_duration_seconds",
            "Time to relay a key to a KME that is not a neighbour, all hops, by outcome.",
            ["kme", "outcome"],
            buckets=_LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.link_up = Gauge(
            "openqci_qkdl_up", "1 while the link's key source is up.", ["kme", "link"], registry=self.registry
        )
        self.skr = Gauge(
            "openqci_qkdl_skr_bits_per_second",
            "Secret key rate of the link (GS QKD 015 qkdl_performance skr).",
            ["kme", "link"],
            registry=self.registry,
        )
        self.eskr = Gauge(
            "openqci_qkdl_eskr_bits_per_second",
            "Effective secret key rate of the link (GS QKD 015 qkdl_performance eskr).",
            ["kme", "link"],
            registry=self.registry,
        )
        self.qber = Gauge(
            "openqci_qkdl_qber_ratio",
            "Quantum bit error rate of the link's latest block (GS QKD 015 phys_perf QBER).",
            ["kme", "link"],
            registry=self.registry,
        )
        self.blocks = Gauge(
            "openqci_qkdl_blocks",
            "Key blocks this end has taken in from the link's key source since its process started.",
            ["kme", "link"],
            registry=self.registry,
        )
        if read_store is not None:
            self.registry.register(_StoreCollector(kme, read_store))

    def observe_request(self, endpoint: str, status: int, seconds: float, error: str | None) -> None:
        """Count one answered request (and its error class, if refused)."""
        self.requests.labels(self.kme, endpoint, str(status)).inc()
        self.request_seconds.labels(self.kme, endpoint).observe(seconds)
        if error is not None:
            self.errors.labels(self.kme, endpoint, str(status), error).inc()

    def observe_relay(self, seconds: float, relayed: bool) -> None:
        """Record one relay to a destination KME, successful or not."""
        self.relay_seconds.labels(self.kme, "relayed" if relayed else "failed").observe(seconds)

    def set_link(
        self, link: str, *, up: bool, skr_bps: float, eskr_bps: float, qber: float, blocks: int
    ) -> None:
        """Record what the key source of ``link`` says of it now."""
        self.link_up.labels(self.kme, link).set(1.0 if up else 0.0)
        self.skr.labels(self.kme, link).set(skr_bps)
        self.eskr.labels(self.kme, link).set(eskr_bps)
        self.qber.labels(self.kme, link).set(qber)
        self.blocks.labels(self.kme, link).set(blocks)


class _StoreCollector(Collector):
    """Reads the key store at each scrape."""

    def __init__(self, kme: str, read_store: Callable[[], StoreFigures]) -> None:
        self._kme = kme
        self._read = read_store

    def describe(self) -> Iterable[Metric]:
        return list(self._families(None))

    def collect(self) -> Iterable[Metric]:
        return list(self._families(self._read()))

    def _families(self, figures: StoreFigures | None) -> Iterator[Metric]:
        kme = self._kme
        available = GaugeMetricFamily(
            "openqci_key_in_store_bits",
            "Key of the link this KME may still hand out (available units times their size).",
            labels=["kme", "link"],
        )
        generated = CounterMetricFamily(
            "openqci_key_generated_bits",
            "Key of the link stored at this KME so far, both halves (key generation).",
            labels=["kme", "link"],
        )
        consumed = CounterMetricFamily(
            "openqci_key_consumed_bits",
            "Key of the link delivered to SAEs or spent on relay hops (key consumption).",
            labels=["kme", "link"],
        )
        store = GaugeMetricFamily("openqci_store_size_bytes", "Size of the key store's file.", labels=["kme"])
        wal = GaugeMetricFamily(
            "openqci_store_wal_size_bytes", "Size of the key store's write-ahead log.", labels=["kme"]
        )
        if figures is not None:
            for link in figures.links:
                available.add_metric([kme, link.link], link.available_bits)
                generated.add_metric([kme, link.link], link.generated_bits)
                consumed.add_metric([kme, link.link], link.consumed_bits)
            store.add_metric([kme], figures.store_bytes)
            wal.add_metric([kme], figures.wal_bytes)
        yield from (available, generated, consumed, store, wal)
