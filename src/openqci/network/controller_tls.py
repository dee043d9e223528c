"""TLS for the controller: its certificate, the server context, and who may call it without the token.

A launched network's controller listens on 127.0.0.1 over plain HTTP by default, reachable only from the
machine. To reach it from other hosts it must speak TLS: :func:`check_binding` refuses any other address
without it. With TLS the controller presents a certificate the network's CA signed for the address it
listens on, and accepts a caller that either carries the bearer token or presents a client certificate
from the same CA whose name is one of the network's KMEs (a KME's certificate is its identity for the
routes it asks). The client certificate is optional in the handshake, so operators with the token need
none; a certificate that is presented must verify, or the handshake fails.
"""

from __future__ import annotations

import ipaddress
import shutil
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID
from starlette.types import ASGIApp, Receive, Scope, Send

from openqci.kms.errors import PkiError
from openqci.kms.pki import issue_certificate
from openqci.network.errors import LaunchError

__all__ = [
    "ControllerTls",
    "bind_controller",
    "check_binding",
    "client_verify",
    "connect_host",
    "issue_controller_certificate",
    "server_context",
    "with_certificate_auth",
]

_WILDCARDS = {"0.0.0.0", "::"}


@dataclass(frozen=True)
class ControllerTls:
    """The controller's certificate and key, and the CA its clients' certificates must chain to."""

    certificate: Path
    private_key: Path
    ca: Path


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        raise LaunchError(f"--controller-host {host!r}: give an IP address of this machine") from None


def check_binding(host: str, *, tls: bool) -> None:
    """Refuse a controller on an address other hosts can reach unless it speaks TLS."""
    if not _address(host).is_loopback and not tls:
        raise LaunchError(
            f"the controller would listen on {host} in plain HTTP, where other hosts can reach it: "
            "add --controller-tls (or keep the default 127.0.0.1)"
        )


def connect_host(host: str) -> str:
    """The address a local client dials for a controller listening on ``host`` (loopback for a wildcard)."""
    if host in _WILDCARDS:
        return "::1" if ":" in host else "127.0.0.1"
    return host


def bind_controller(host: str, port: int) -> socket.socket:
    """The controller's listening socket on ``host:port`` (0: a port the kernel chose)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as error:
        sock.close()
        why = error.strerror or error
        raise LaunchError(f"the controller cannot listen on {host}:{port}: {why}") from None
    return sock


def issue_controller_certificate(pki_dir: Path, host: str) -> ControllerTls:
    """(Re)issue the launched controller's certificate for ``host`` into ``pki_dir/controller``."""
    folder = pki_dir / "controller"
    shutil.rmtree(folder, ignore_errors=True)
    names = ["DNS:localhost", "IP:127.0.0.1"]
    if host not in _WILDCARDS and not _address(host).is_loopback:
        names.append(f"IP:{host}")
    try:
        identity = issue_certificate(pki_dir, "controller", kme=True, san=names, out_dir=folder)
    except PkiError as error:
        raise LaunchError(f"cannot issue the controller's certificate: {error}") from None
    return ControllerTls(identity.certificate, identity.private_key, pki_dir / "ca.pem")


def server_context(tls: ControllerTls) -> ssl.SSLContext:
    """TLS >= 1.2; a client certificate is optional, and verified against the CA when presented."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_OPTIONAL
    try:
        context.load_verify_locations(cafile=str(tls.ca))
        context.load_cert_chain(str(tls.certificate), str(tls.private_key))
    except (OSError, ssl.SSLError) as error:
        raise LaunchError(f"cannot load the controller's TLS files: {error}") from None
    return context


def client_verify(
    ca: Path, certificate: Path | None = None, private_key: Path | None = None
) -> ssl.SSLContext:
    """A client context trusting only ``ca`` (and presenting ``certificate`` when given)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_verify_locations(cafile=str(ca))
        if certificate is not None and private_key is not None:
            context.load_cert_chain(str(certificate), str(private_key))
    except (OSError, ssl.SSLError) as error:
        raise LaunchError(f"cannot load the TLS files to reach the controller: {error}") from None
    return context


def with_certificate_auth(app: ASGIApp, token: str, names: frozenset[str]) -> ASGIApp:
    """Let a request whose verified client certificate names one of ``names`` in as if it had the token.

    Needs :class:`openqci.kms.tls.ClientCertProtocol`, which puts the certificate in the request's scope;
    any other request goes on to the app's own bearer-token check unchanged.
    """
    header = (b"authorization", f"Bearer {token}".encode())

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            chain = scope.get("extensions", {}).get("tls", {}).get("client_cert_chain") or []
            if chain and _common_name(chain[0]) in names:
                kept = [(k, v) for k, v in scope["headers"] if k.lower() != b"authorization"]
                scope = {**scope, "headers": [*kept, header]}
        await app(scope, receive, send)

    return wrapped


def _common_name(pem: str) -> str | None:
    certificate = x509.load_pem_x509_certificate(pem.encode())
    attributes = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attributes[0].value) if attributes else None
