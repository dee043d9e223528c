"""A headless Chromium driven over the Chrome DevTools Protocol, for the dashboard's browser tests.

Debian's ``chromium`` package is started with a fresh profile and ``--remote-debugging-port=0``; the port
it chose is read from the profile's ``DevToolsActivePort`` file, and the page is driven over its websocket
(the ``websockets`` package, which uvicorn's standard extra installs): navigate, evaluate JavaScript, take
screenshots. No browser is downloaded; where none is installed the caller skips (or fails under CI).
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

__all__ = ["Chromium", "chromium_binary"]

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
)


def chromium_binary() -> str:
    """The Chromium to drive; skips the test without one, except under CI where that is a failure."""
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    message = "no Chromium found (install Debian's package: apt-get install -y chromium; ./run test does)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI=true: a missing browser is a failure)")
    print(f"SKIPPED: {message}")
    pytest.skip(message)


class Chromium:
    """One headless browser with one page; use as a context manager."""

    def __init__(self, binary: str, *, width: int = 1600, height: int = 1000) -> None:
        self._profile = tempfile.mkdtemp(prefix="openqci-chromium-")
        self._process = subprocess.Popen(
            [
                binary,
                *FLAGS,
                f"--user-data-dir={self._profile}",
                "--remote-debugging-port=0",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._ids = itertools.count(1)
        self._stack = contextlib.ExitStack()
        try:
            self._socket = self._stack.enter_context(self._attach())
        except BaseException:
            self.close()
            raise
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )

    def _attach(self) -> ClientConnection:
        port_file = Path(self._profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 30.0
        while not port_file.exists() or not port_file.read_text().strip():
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("Chromium did not open its DevTools port")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
            targets = json.loads(answer.read())
        page = next(t for t in targets if t["type"] == "page")
        return connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=10)

    def call(self, method: str, params: dict[str, Any] | None = None, *, timeout_s: float = 30.0) -> Any:
        """Send one DevTools command and return its result (events in between are dropped)."""
        ident = next(self._ids)
        self._socket.send(json.dumps({"id": ident, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout_s
        while True:
            message = json.loads(self._socket.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def open(self, url: str) -> None:
        """Navigate and wait for the document to load."""
        self.call("Page.navigate", {"url": url})
        self.wait_for("document.readyState === 'complete'", timeout_s=30.0)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.call(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True}
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, *, timeout_s: float) -> float:
        """Poll until ``expression`` is truthy; return the seconds it took (raise on timeout)."""
        started = time.monotonic()
        while not self.evaluate(expression):
            if time.monotonic() - started > timeout_s:
                raise TimeoutError(f"{expression} still false after {timeout_s:g} s")
            time.sleep(0.1)
        return time.monotonic() - started

    def screenshot(self, path: Path) -> Path:
        """Save the page as a PNG."""
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        self._stack.close()
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
