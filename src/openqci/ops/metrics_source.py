"""``/metrics`` and ``/health`` of a link engine process, which serves no HTTP otherwise.

A link engine (:mod:`openqci.network.engine`) runs one fibre link's post-processing and talks to its KMEs
over a local authenticated channel, not HTTP. This module gives it the same probes as every other process:
a small threaded HTTP server on a loopback socket the launcher bound, serving the engine's registry
(what its key source says of the link, and the blocks and key it delivered) and its health (ready once its
key source has started). Standard library and :mod:`prometheus_client` only.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest

__all__ = ["SourceMetrics", "serve_probes"]


class SourceMetrics:
    """The metrics of the key source of ``link`` in its own process."""

    def __init__(self, link: str) -> None:
        self.link = link
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ["link"]
        self.up = Gauge(
            "openqci_source_up", "1 while the key source makes key.", labels, registry=self.registry
        )
        self.skr = Gauge(
            "openqci_source_skr_bits_per_second",
            "Secret key rate the source makes (GS QKD 015 skr).",
            labels,
            registry=self.registry,
        )
        self.qber = Gauge(
            "openqci_source_qber_ratio", "QBER of the latest block.", labels, registry=self.registry
        )
        self.blocks = Counter(
            "openqci_source_blocks", "Blocks delivered to both ends.", labels, registry=self.registry
        )
        self.key = Counter(
            "openqci_source_key_bits",
            "Key delivered to both ends (key generation).",
            labels,
            registry=self.registry,
        )

    def set_state(self, *, up: bool, skr_bps: float, qber: float) -> None:
        """Record what the source says of its link now."""
        self.up.labels(self.link).set(1.0 if up else 0.0)
        self.skr.labels(self.link).set(skr_bps)
        self.qber.labels(self.link).set(qber)

    def delivered(self, key_bits: int) -> None:
        """Count one block of ``key_bits`` handed to both ends."""
        self.blocks.labels(self.link).inc()
        self.key.labels(self.link).inc(key_bits)


def serve_probes(
    sock: socket.socket, registry: CollectorRegistry, readiness: Callable[[], str | None], *, name: str
) -> ThreadingHTTPServer:
    """Serve ``/metrics`` and ``/health`` on the listening ``sock`` from a daemon thread; return the server.

    Call ``shutdown()`` and ``server_close()`` on the result to stop it.
    """

    class Probes(BaseHTTPRequestHandler):
        timeout = 10.0  # a connection that sends nothing is dropped

        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._answer(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif self.path == "/health/live":
                self._json(200, {"status": "live", "process": name})
            elif self.path in ("/health", "/health/ready"):
                why = readiness()
                body = (
                    {"status": "ready", "process": name}
                    if why is None
                    else {"status": "not ready", "process": name, "reason": why}
                )
                self._json(200 if why is None else 503, body)
            else:
                self._json(404, {"message": "only /metrics, /health, /health/live and /health/ready"})

        def _json(self, status: int, body: dict[str, str]) -> None:
            self._answer(status, json.dumps(body).encode(), "application/json")

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Scrapes are not operator events: say nothing."""

    server = ThreadingHTTPServer(sock.getsockname()[:2], Probes, bind_and_activate=False)
    server.socket.close()
    server.socket = sock
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name=f"probes-{name}", daemon=True).start()
    return server
