"""Bad-input campaign: fuzzed APIs, hostile certificates, bodies and connections, hostile files.

Against two KMEs served as processes over mutual TLS (:mod:`reliability.cluster`): client certificates that
are expired, not yet valid, signed by another CA, without the client-auth usage, self-signed, or valid and
unregistered, and no certificate at all; oversized and malformed bodies and headers; idle TLS connections,
raw TCP connections that never start TLS, and a client that sends its headers a byte at a time, while a
valid client is timed. A 5xx other than 503, a traceback in a KME's log, or key handed to a hostile
certificate is a violation; the KME holding connections open is counted by kind (it is a finding on
resources, not on correctness). Schemathesis (:mod:`reliability.fuzzing`) and hostile files
(:mod:`reliability.hostile_files`) complete it.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import tempfile
import time
from pathlib import Path

import httpx

from reliability.certs import issue_bad_identities
from reliability.cluster import Pair, start_pair
from reliability.fuzzing import fuzz_apis
from reliability.hostile_files import check_hostile_files
from reliability.outcome import Clock, Outcome
from tests.kms.conftest import Backend

__all__ = ["run_bad_input"]


def run_bad_input(*, examples: int, idle: int, budget_s: float, files: bool = True) -> Outcome:
    """Run every bad-input probe; ``examples`` per fuzzed operation, ``idle`` connections held open."""
    outcome = Outcome("bad input: fuzz, certificates, bodies, connections, files")
    clock = Clock(budget_s)
    root = Path(tempfile.mkdtemp(prefix="openqci-bad-input-"))
    try:
        pair = start_pair(root / "site", Backend("sqlite"), blocks=4)
        try:
            _certificates(pair, outcome, root)
            _bodies(pair, outcome)
            _connections(pair, outcome, idle)
            if pair.tracebacks():
                outcome.violate("a KME wrote a Python traceback to its log")
        finally:
            pair.stop()
        fuzz_apis(outcome, examples=examples)
        if files and clock.left() > 0:
            check_hostile_files(outcome, root, root / "site" / "pki")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    outcome.duration_s = clock.elapsed()
    return outcome


def _context(pair: Pair, certificate: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pair.site.pki.ca))
    if certificate is not None and key is not None:
        context.load_cert_chain(str(certificate), str(key))
    return context


def _certificates(pair: Pair, outcome: Outcome, root: Path) -> None:
    """Each hostile certificate asks for keys and for the peer's records; none may get either."""
    identities = [
        (i.kind, _context(pair, i.certificate, i.private_key))
        for i in issue_bad_identities(root / "site" / "pki", root / "bad")
    ]
    identities.append(("no certificate", _context(pair)))
    url = f"https://127.0.0.1:{pair.ports['kme-a']}"
    for kind, context in identities:
        for method, path, body in (
            ("POST", "/api/v1/keys/sae-b1/enc_keys", {"number": 1}),
            ("GET", "/api/v1/keys/sae-b1/status", None),
            ("POST", "/kme/v1/deliveries/pull", {"key_ids": ["00000000-0000-0000-0000-000000000000"]}),
        ):
            outcome.requests += 1
            outcome.faults += 1
            try:
                with httpx.Client(base_url=url, verify=context, timeout=10) as client:
                    got = client.request(method, path, json=body)
            except (httpx.TransportError, ssl.SSLError) as error:
                outcome.errors[f"certificate {kind}: handshake refused ({type(error).__name__})"] += 1
                continue
            if got.status_code == 200:
                outcome.violate(f"a client with a certificate that is {kind} was served {path}")
            elif got.status_code >= 500 and got.status_code != 503:
                outcome.violate(f"HTTP {got.status_code} for a certificate that is {kind}")
            else:
                outcome.errors[f"certificate {kind}: HTTP {got.status_code}"] += 1


def _bodies(pair: Pair, outcome: Outcome) -> None:
    """Oversized and malformed bodies and headers from a registered SAE: refused, never a 5xx."""
    many = [{"key_ID": f"00000000-0000-0000-0000-{i:012d}"} for i in range(100_000)]
    cases: list[tuple[str, str, dict[str, object]]] = [
        ("malformed JSON", "/api/v1/keys/sae-b1/enc_keys", {"content": b'{"number": 1,'}),
        (
            "JSON nested 100,000 deep",
            "/api/v1/keys/sae-b1/enc_keys",
            {"content": b"[" * 100_000 + b"]" * 100_000},
        ),
        (
            "number as a 400-digit integer",
            "/api/v1/keys/sae-b1/enc_keys",
            {"content": b'{"number": 1' + b"0" * 400 + b"}"},
        ),
        ("16 MB body", "/api/v1/keys/sae-b1/enc_keys", {"content": b'{"pad": "' + b"x" * (16 << 20) + b'"}'}),
        ("a 1 MB header", "/api/v1/keys/sae-b1/status", {"headers": {"x-pad": "x" * (1 << 20)}}),
        (
            "wrong content type",
            "/api/v1/keys/sae-b1/enc_keys",
            {"content": b"number=1", "headers": {"content-type": "application/x-www-form-urlencoded"}},
        ),
        ("dec_keys with 100,000 key IDs", "/api/v1/keys/sae-b1/dec_keys", {"json": {"key_IDs": many}}),
        ("invalid UTF-8", "/api/v1/keys/sae-b1/enc_keys", {"content": b'{"number": "\xff\xfe"}'}),
    ]
    with pair.client("kme-a", "sae-a1", timeout_s=60) as client:
        for kind, path, options in cases:
            outcome.requests += 1
            outcome.faults += 1
            headers = {"content-type": "application/json", **options.pop("headers", {})}  # type: ignore[dict-item]
            started = time.perf_counter()
            try:
                method = "GET" if path.endswith("/status") else "POST"
                got = client.request(method, path, headers=headers, **options)  # type: ignore[arg-type]
            except httpx.TransportError as error:
                outcome.errors[f"{kind}: connection closed ({type(error).__name__})"] += 1
                continue
            outcome.latencies_s.append(time.perf_counter() - started)
            if got.status_code >= 500 and got.status_code != 503:
                outcome.violate(f"HTTP {got.status_code} for {kind}")
            elif got.status_code >= 400 and '"message"' not in got.text:
                outcome.violate(f"HTTP {got.status_code} without the error body for {kind}")
            outcome.errors[f"{kind}: HTTP {got.status_code}"] += 1


def _connections(pair: Pair, outcome: Outcome, idle: int) -> None:
    """Idle TLS, raw TCP and a slow sender held open; a valid client is timed meanwhile."""
    port = pair.ports["kme-a"]
    context = pair.context("sae-a1")
    held: list[socket.socket] = []
    try:
        for i in range(idle):
            raw = socket.create_connection(("127.0.0.1", port), timeout=5)
            if i % 2 == 0:
                try:
                    held.append(context.wrap_socket(raw, server_hostname="127.0.0.1"))
                except (ssl.SSLError, OSError):
                    outcome.errors["idle TLS connection refused at handshake"] += 1
                    raw.close()
                    continue
            else:
                held.append(raw)
            outcome.faults += 1
        slow = context.wrap_socket(
            socket.create_connection(("127.0.0.1", port), timeout=5), server_hostname="127.0.0.1"
        )
        held.append(slow)
        slow.sendall(b"GET /api/v1/keys/sae-b1/status HTTP/1.1\r\nHost: x\r\n")
        outcome.faults += 1
        with pair.client("kme-a", "sae-a1") as client:
            started = time.perf_counter()
            got = client.get("/api/v1/keys/sae-b1/status")
            waited = time.perf_counter() - started
        outcome.requests += 1
        outcome.latencies_s.append(waited)
        outcome.notes.append(
            f"valid client served in {waited * 1000:.0f} ms with {len(held)} idle or slow connections open"
        )
        if got.status_code != 200 or waited > 1.0:
            outcome.errors["valid client not served within 1 s under idle connections"] += 1
        time.sleep(5.0)
        still = sum(_open(s) for s in held)
        outcome.errors[f"idle or slow connections still open after 5 s (of {len(held)})"] += still
    finally:
        for sock in held:
            sock.close()


def _open(sock: socket.socket) -> bool:
    """Whether the server has not closed ``sock`` (a read would block rather than see EOF)."""
    sock.setblocking(False)
    try:
        return sock.recv(1) != b""
    except (BlockingIOError, ssl.SSLWantReadError):
        return True
    except OSError:
        return False
