"""The public surface of openqci.ops: sorted, complete, light, and its docstring examples run."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import subprocess
import sys

import httpx
import pytest

import openqci.ops as ops


def test_all_is_sorted_and_complete() -> None:
    assert ops.__all__ == sorted(ops.__all__, key=lambda name: (not name.isupper(), name))
    public = {name for name in vars(ops) if not name.startswith("_")}
    modules = {info.name for info in pkgutil.iter_modules(ops.__path__)}
    assert public - modules - {"annotations"} == set(ops.__all__)


@pytest.mark.parametrize("module", sorted(info.name for info in pkgutil.iter_modules(ops.__path__)))
def test_docstring_examples_run(module: str) -> None:
    loaded = importlib.import_module(f"openqci.ops.{module}")
    failures, _ = doctest.testmod(loaded, optionflags=doctest.ELLIPSIS)
    assert failures == 0


def test_what_the_key_management_layer_imports_loads_no_network_layer() -> None:
    probe = (
        "import sys, openqci.ops, openqci.ops.metrics_kme, openqci.ops.probes, openqci.ops.request_metrics; "
        "print(sorted(m for m in sys.modules if m.startswith('openqci.network') or m == 'networkx'))"
    )
    shown = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == "[]"


def test_a_link_engine_serves_its_documented_metrics_and_health() -> None:
    from openqci.network.processes import bind_loopback
    from openqci.ops.metrics_source import SourceMetrics, serve_probes
    from tests.ops.test_live_network import documented, names, scrape

    metrics = SourceMetrics("ab")
    metrics.set_state(up=True, skr_bps=2.5e5, qber=0.031)
    metrics.delivered(4096)
    ready: list[str | None] = ["the link's first block is not made yet"]
    sock = bind_loopback()
    server = serve_probes(sock, metrics.registry, lambda: ready[0], name="ab")
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        samples = scrape(httpx.get(f"{base}/metrics"))
        assert len(documented("engine")) == 5
        assert documented("engine") - names(samples) == set()
        assert samples[("openqci_source_key_bits_total", (("link", "ab"),))] == 4096
        assert httpx.get(f"{base}/health").status_code == 503
        ready[0] = None
        assert httpx.get(f"{base}/health/ready").json() == {"status": "ready", "process": "ab"}
        assert httpx.get(f"{base}/nothing").status_code == 404
    finally:
        server.shutdown()
        server.server_close()
