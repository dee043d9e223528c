"""The server side of the TLS handshake: its outcome comes back, with the alert sent, on both event loops."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Any

import pytest
import uvloop

from openqci.kms.pki import init_pki
from openqci.kms.tls import client_context, describe_tls_refusal, server_context, start_server_tls

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}


class _Echo(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


def _run(loop_name: str, client: ssl.SSLContext, server: ssl.SSLContext, timeout_s: float) -> tuple[Any, str]:
    """Serve one connection; return the handshake's outcome on the server and what the client saw."""
    outcome: list[BaseException | None] = []

    class Gate(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            done = start_server_tls(
                transport,  # type: ignore[arg-type]
                _Echo(),
                server,
                handshake_timeout_s=timeout_s,
                shutdown_timeout_s=timeout_s,
            )
            done.add_done_callback(lambda f: outcome.append(f.exception()))

    async def main() -> str:
        listener = await asyncio.get_running_loop().create_server(Gate, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        seen = await asyncio.to_thread(_client, port, client)
        listener.close()
        return seen

    loop = LOOPS[loop_name]()
    try:
        seen = loop.run_until_complete(main())
    finally:
        loop.close()
    return outcome[0] if outcome else "pending", seen


def _client(port: int, context: ssl.SSLContext) -> str:
    import socket

    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as sock,
    ):
        try:
            sock.sendall(b"ping")
            return sock.recv(16).decode()
        except ssl.SSLError as error:
            return str(error)


@pytest.mark.parametrize("loop_name", list(LOOPS))
def test_a_client_without_certificate_gets_the_alert_and_the_server_the_reason(loop_name, tmp_path) -> None:
    pki = init_pki(tmp_path / "pki", ["kme-a"], ["sae-a"])
    server = server_context(pki.ca, pki.kmes["kme-a"].certificate, pki.kmes["kme-a"].private_key)
    outcome, seen = _run(loop_name, ssl.create_default_context(cafile=str(pki.ca)), server, 5.0)
    assert "certificate required" in seen.lower()
    assert isinstance(outcome, ssl.SSLError)
    assert describe_tls_refusal(outcome) == "TLS error: peer did not return a certificate"


@pytest.mark.parametrize("loop_name", list(LOOPS))
def test_a_good_client_is_handed_to_the_protocol(loop_name, tmp_path) -> None:
    pki = init_pki(tmp_path / "pki", ["kme-a"], ["sae-a"])
    server = server_context(pki.ca, pki.kmes["kme-a"].certificate, pki.kmes["kme-a"].private_key)
    client = client_context(pki.ca, pki.saes["sae-a"].certificate, pki.saes["sae-a"].private_key)
    outcome, seen = _run(loop_name, client, server, 5.0)
    assert (outcome, seen) == (None, "ping")
