"""A KME's connections and requests are bounded: caps, timeouts and sizes, over real mutual TLS."""

from __future__ import annotations

import datetime as dt
import logging
import select
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from openqci.kms.pki import ca_key_path, init_pki
from tests.kms.matrix import is_error
from tests.kms.servers import Served, serve_site

_LOGGER = "openqci.kms.bounded_http"


@pytest.fixture
def tight(tmp_path) -> Iterator[Served]:
    """Two KMEs with a small connection cap and short timeouts."""
    serving = {
        "max_connections": 12,
        "tls_handshake_timeout_s": 0.8,
        "keep_alive_timeout_s": 0.8,
        "header_timeout_s": 0.8,
        "body_timeout_s": 0.8,
        "write_timeout_s": 0.8,
    }
    site = serve_site(tmp_path, serving=serving)
    yield site
    site.stop()


@pytest.fixture
def capped(tmp_path) -> Iterator[Served]:
    """Two KMEs with a small connection cap and the default (long) timeouts."""
    site = serve_site(tmp_path, serving={"max_connections": 12, "max_connections_per_certificate": 6})
    yield site
    site.stop()


def _raw(served: Served) -> socket.socket:
    return socket.create_connection(("127.0.0.1", served.ports["kme-a"]), timeout=5)


def _tls(served: Served, identity: str = "sae-a2") -> ssl.SSLSocket:
    return served.context(identity).wrap_socket(_raw(served), server_hostname="localhost")


def _closed_by_server(sock: socket.socket) -> bool:
    """True once the server has closed ``sock`` (end of stream or reset); never blocks."""
    sock.setblocking(False)
    try:
        while True:
            if not sock.recv(65536):
                return True
    except (ssl.SSLWantReadError, BlockingIOError):
        return False
    except OSError:
        return True


def _answer(sock: socket.socket, timeout_s: float = 5.0) -> bytes:
    """Read what the server sends until it closes the connection."""
    sock.settimeout(timeout_s)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (OSError, TimeoutError):
        pass
    return data


def _status_and_message(answer: bytes) -> tuple[int, str]:
    head, _, body = answer.partition(b"\r\n\r\n")
    import json

    return int(head.split()[1]), json.loads(body)["message"]


def _wait_until(condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_a_valid_client_is_served_within_a_second_when_idle_and_slow_clients_hold_the_cap(
    capped: Served,
) -> None:
    idle = [_tls(capped, f"sae-a{1 + i % 2}") for i in range(4)]  # TLS, never a request
    slow = [_tls(capped, "sae-b1") for _ in range(4)]  # a request head that never ends
    for sock in slow:
        sock.sendall(b"GET /api/v1/keys/sae-b1/status HTTP/1.1\r\nHost: kme-a\r\n")
    silent = [_raw(capped) for _ in range(8)]  # TCP, no certificate, no handshake
    attackers = idle + slow + silent
    time.sleep(0.3)
    assert _wait_until(lambda: sum(map(_closed_by_server, attackers)) >= len(attackers) - 12, 5)

    start = time.monotonic()
    with httpx.Client(
        base_url=f"https://127.0.0.1:{capped.ports['kme-a']}", verify=capped.context("sae-a1")
    ) as c:
        status = c.get("/api/v1/keys/sae-b1/status")
    assert status.status_code == 200, status.text
    assert time.monotonic() - start < 1.0
    open_attackers = [s for s in attackers if not _closed_by_server(s)]
    assert len(open_attackers) <= 11  # the cap (12) holds, the served client included
    for sock in attackers:
        sock.close()


def test_one_certificate_holds_at_most_its_cap(capped: Served) -> None:
    first = [_tls(capped, "sae-a2") for _ in range(6)]
    time.sleep(0.2)
    newest = _tls(capped, "sae-a2")
    newest.sendall(b"GET /api/v1/keys/sae-b1/status HTTP/1.1\r\nHost: kme-a\r\n\r\n")
    assert b"200 OK" in newest.recv(65536)
    assert _wait_until(lambda: _closed_by_server(first[0]), 2)  # the oldest of that certificate gave way
    assert not any(_closed_by_server(s) for s in first[1:])
    for sock in [*first, newest]:
        sock.close()


def test_silent_idle_and_slow_connections_are_closed_after_their_timeouts(tight: Served) -> None:
    silent = _raw(tight)
    idle = _tls(tight)
    slow_head = _tls(tight)
    slow_head.sendall(b"GET /api/v1/keys/sae-b1/status HTTP/1.1\r\n")
    slow_body = _tls(tight)
    slow_body.sendall(
        b"POST /api/v1/keys/sae-b1/enc_keys HTTP/1.1\r\nHost: kme-a\r\ncontent-type: application/json\r\n"
        b"content-length: 100\r\n\r\n{"
    )
    for _ in range(4):  # a byte now and then does not extend the head's deadline
        time.sleep(0.15)
        slow_head.sendall(b"X")
    assert _wait_until(lambda: all(map(_closed_by_server, (silent, idle))), 3)
    assert _status_and_message(_answer(slow_head))[1].startswith("request head not received within")
    status, message = _status_and_message(_answer(slow_body))
    assert status == 400
    assert message.startswith("request body not received within")
    for sock in (silent, idle, slow_head, slow_body):
        sock.close()


def test_keep_alive_connection_is_closed_after_the_idle_timeout(tight: Served) -> None:
    sock = _tls(tight, "sae-a1")
    sock.sendall(b"GET /api/v1/keys/sae-b1/status HTTP/1.1\r\nHost: kme-a\r\n\r\n")
    assert b"200 OK" in sock.recv(65536)
    time.sleep(0.3)
    assert not _closed_by_server(sock)
    assert _wait_until(lambda: _closed_by_server(sock), 3)
    sock.close()


def test_answers_the_client_does_not_read_are_dropped_after_the_write_timeout(tight: Served, caplog) -> None:
    """Pipelined requests whose answers (about 8 KB each: the error repeats the unknown SAE ID) are never
    read, into a 4 KiB receive buffer: once the kernel's buffers (up to 4 MiB to send, here) and the
    transport's are full, writing pauses, and the connection goes once the pause has lasted
    ``write_timeout_s``. Before that limit it stayed busy, never evicted, for as long as the client wished.
    """
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: it sets the window
    raw.settimeout(5)
    raw.connect(("127.0.0.1", tight.ports["kme-a"]))
    sock = tight.context("sae-a1").wrap_socket(raw, server_hostname="localhost")
    request = b"GET /api/v1/keys/" + b"x" * 8000 + b"/status HTTP/1.1\r\nHost: kme-a\r\n\r\n"
    sent = [0]

    def send() -> None:  # until the server stops reading (its answers are stuck) or 1,600 are sent
        sock.settimeout(2)
        try:
            while sent[0] < 1600:
                sock.sendall(request)
                sent[0] += 1
        except OSError:
            pass

    sender = threading.Thread(target=send, daemon=True)
    with caplog.at_level(logging.WARNING, logger=_LOGGER):
        sender.start()
        dropped = _wait_until(lambda: any("write_timeout_s" in r.getMessage() for r in caplog.records), 20)
    sender.join(timeout=10)
    sock.close()
    assert dropped, f"{sent[0]} requests sent, and the connection not dropped though nothing was read"
    with httpx.Client(
        base_url=f"https://127.0.0.1:{tight.ports['kme-a']}", verify=tight.context("sae-a1")
    ) as c:
        assert c.get("/api/v1/keys/sae-b1/status").status_code == 200


def _send_until_answered(sock: ssl.SSLSocket, head: bytes, filler: bytes, total: int) -> tuple[int, bytes]:
    """Send ``head`` then ``filler`` up to ``total`` bytes, stopping once the server answers or stops reading.

    Writes never block (a TLS write cut short by a timeout would leave the client unable to read), and a
    readable socket counts as an answer only once it yields application data (TLS 1.3 session tickets
    make it readable first).
    """
    sock.sendall(head)
    sent, received = len(head), b""
    sock.setblocking(False)
    while sent < total and not received:
        readable, writable, _ = select.select([sock], [sock], [], 2.0)
        if not readable and not writable:
            break  # the server neither answers nor reads
        try:
            if readable or sock.pending():
                received = sock.recv(65536) or b"(closed)"
                continue
            sent += sock.send(filler)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            continue
        except OSError:
            break
    sock.setblocking(True)
    return sent, received.removeprefix(b"(closed)") + _answer(sock)


def test_a_100_mb_body_is_refused_from_its_content_length(capped: Served) -> None:
    head = (
        b"POST /api/v1/keys/sae-a1/dec_keys HTTP/1.1\r\nHost: kme-a\r\ncontent-type: application/json\r\n"
        b"content-length: 100000000\r\n\r\n"
    )
    start = time.monotonic()
    with _tls(capped, "sae-b1") as sock:
        sent, answer = _send_until_answered(sock, head, b" " * 65536, 100_000_000)
    status, message = _status_and_message(answer)
    assert (status, message) == (
        400,
        "request body of 100000000 bytes is larger than max_body_bytes (4194304)",
    )
    assert time.monotonic() - start < 2.0
    assert sent < 100_000_000  # answered before the body was sent


def test_a_10_mb_header_is_refused_once_it_passes_the_limit(capped: Served) -> None:
    start = time.monotonic()
    head = b"GET /api/v1/keys/sae-b1/status HTTP/1.1\r\nHost: kme-a\r\nX-Padding: "
    with _tls(capped, "sae-b1") as sock:
        sent, answer = _send_until_answered(sock, head, b"a" * 16384, 10_000_000)
    status, message = _status_and_message(answer)
    assert (status, message) == (400, "request head larger than max_header_bytes (16384)")
    assert time.monotonic() - start < 2.0
    assert sent < 10_000_000  # answered before the whole header was sent


def test_260000_key_ids_are_a_clean_400(capped: Served, caplog) -> None:
    entry = b'{"key_ID": "%s"}' % str(uuid.uuid4()).encode()
    body = b'{"key_IDs": [' + b", ".join([entry] * 260_000) + b"]}"
    url = f"https://127.0.0.1:{capped.ports['kme-b']}"
    with caplog.at_level(logging.ERROR), httpx.Client(base_url=url, verify=capped.context("sae-b1")) as c:
        start = time.monotonic()
        response = c.post(
            "/api/v1/keys/sae-a1/dec_keys",
            content=body,
            headers={"content-type": "application/json"},
            timeout=30,
        )
        is_error(response, 400)
        assert time.monotonic() - start < 5.0
    assert "max_body_bytes" in response.json()["message"]
    assert not [r for r in caplog.records if r.exc_info]  # no traceback anywhere


def _issue(pki: Path, name: str, *, usage, not_after: dt.datetime) -> tuple[Path, Path]:
    """A certificate signed by the site CA with the given extended key usage and end of validity."""
    ca_key = serialization.load_pem_private_key(ca_key_path(pki).read_bytes(), None)
    ca = x509.load_pem_x509_certificate((pki / "ca.pem").read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_after - dt.timedelta(days=30))
        .not_valid_after(not_after)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    pem, key_file = pki / f"{name}.pem", pki / f"{name}.key"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return pem, key_file


def _handshake_error(served: Served, context: ssl.SSLContext) -> str:
    sock = context.wrap_socket(_raw(served), server_hostname="localhost")
    try:
        sock.sendall(b"GET /api/v1/keys/sae-b1/status HTTP/1.1\r\nHost: kme-a\r\n\r\n")
        answer = sock.recv(65536)
    except ssl.SSLError as error:
        return str(error)
    finally:
        sock.close()
    raise AssertionError(f"the handshake was not refused: {answer[:80]!r}")


def test_refused_handshakes_are_logged_with_their_reason_and_alerted(
    capped: Served, tmp_path, caplog
) -> None:
    pki = capped.site.pki
    now = dt.datetime.now(dt.UTC)
    expired = _issue(
        pki.ca.parent,
        "sae-expired",
        usage=ExtendedKeyUsageOID.CLIENT_AUTH,
        not_after=now - dt.timedelta(days=1),
    )
    server_only = _issue(
        pki.ca.parent,
        "sae-server-only",
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        not_after=now + dt.timedelta(days=30),
    )
    other = init_pki(tmp_path / "other-pki", [], ["sae-a1"]).saes["sae-a1"]

    def context(pem: Path | None, key: Path | None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(pki.ca))
        if pem is not None:
            ctx.load_cert_chain(str(pem), str(key))
        return ctx

    cases = {
        "no certificate": (context(None, None), "certificate required", "did not return a certificate"),
        "expired": (context(*expired), "certificate expired", "certificate has expired"),
        "wrong EKU": (context(*server_only), "unsupported certificate", "certificate purpose"),
        "another CA": (context(other.certificate, other.private_key), "alert", "client certificate refused"),
    }
    for case, (ctx, client_sees, server_logs) in cases.items():
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger=_LOGGER):
            seen = _handshake_error(capped, ctx)
            assert client_sees in seen.lower(), (case, seen)
            assert _wait_until(
                lambda: any("refused TLS handshake" in r.getMessage() for r in caplog.records), 3
            )
        lines = [r.getMessage() for r in caplog.records if "refused TLS handshake" in r.getMessage()]
        assert any(server_logs in line.lower() for line in lines), (case, lines)
