"""Builds one running KME from its configuration: store, identities, peer clients, manager and app.

Peer clients are handed their transports. By default each gets a keep-alive mutual-TLS transport built
from the KME's own certificate (which carries both client and server usage); tests pass
``httpx.ASGITransport`` objects instead to run several KMEs in one process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from fastapi import FastAPI

from openqci.kms.api.app import create_app
from openqci.kms.config import KmeConfig
from openqci.kms.crypto import MasterKey
from openqci.kms.errors import ConfigError
from openqci.kms.identity import Directory, read_fingerprint
from openqci.kms.manager import KeyManager, PeerLink
from openqci.kms.peer import PeerClient
from openqci.kms.postgres_store import PostgresKeyStore
from openqci.kms.relay import RelayOptions
from openqci.kms.relay_ledger import RelayLedger
from openqci.kms.route_provider import ControllerRoutes, NeighbourRoutes, RouteProvider
from openqci.kms.sqlite_store import SqliteKeyStore
from openqci.kms.sqlstore import SqlKeyStore
from openqci.kms.tls import client_context

__all__ = ["Kme", "build_kme", "open_store"]


@dataclass(frozen=True)
class Kme:
    """A KME ready to serve: its ASGI app and the manager behind it (for feeding KeyBlocks)."""

    config: KmeConfig
    manager: KeyManager
    app: FastAPI


def open_store(config: KmeConfig) -> SqlKeyStore:
    """Open the key store named in the configuration."""
    master_key = MasterKey.from_file(config.master_key_file)
    if config.store.sqlite is not None:
        return SqliteKeyStore(config.store.sqlite, master_key)
    assert config.store.postgres is not None
    return PostgresKeyStore(config.store.postgres, master_key, schema=config.store.schema_name)


def build_kme(
    config: KmeConfig,
    *,
    peer_transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    route_provider: RouteProvider | None = None,
) -> Kme:
    """Assemble a KME; ``peer_transports`` (by peer KME ID) replaces the default mutual-TLS transports.

    Routes for key relay come from ``route_provider`` if given, else from the controller named in
    ``config.relay``, else only the direct links to the neighbours are known.
    """
    transports = dict(peer_transports or {})
    directory = Directory(
        {read_fingerprint(s.certificate): s.sae_id for s in config.saes},
        {read_fingerprint(p.certificate): p.kme_id for p in config.peers},
    )
    peers = [
        PeerLink(
            p.kme_id,
            p.link_id,
            frozenset(p.saes),
            PeerClient(p.kme_id, p.url, transports.get(p.kme_id) or _mtls_transport(config)),
        )
        for p in config.peers
    ]
    store = open_store(config)
    relay = RelayOptions(
        RelayLedger(store, kme_id=config.kme_id, unit_bits=config.unit_bits),
        route_provider or _route_provider(config),
        config.relay.saes,
        max_routes=config.relay.max_routes,
        hop_timeout_s=config.relay.hop_timeout_s,
    )
    manager = KeyManager(
        config.kme_id,
        store,
        peers,
        local_saes=frozenset(s.sae_id for s in config.saes),
        limits=config.limits,
        unit_bits=config.unit_bits,
        relay=relay,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        manager.start()
        yield
        await manager.aclose()

    app = create_app(manager, directory, lifespan=lifespan)
    return Kme(config, manager, app)


def _mtls_transport(config: KmeConfig) -> httpx.AsyncBaseTransport:
    context = client_context(config.tls.ca, config.tls.certificate, config.tls.private_key)
    return httpx.AsyncHTTPTransport(verify=context, limits=httpx.Limits(max_keepalive_connections=32))


def _route_provider(config: KmeConfig) -> RouteProvider:
    relay = config.relay
    if relay.controller_url is None or relay.token_file is None:
        return NeighbourRoutes(config.kme_id, {p.kme_id: p.link_id for p in config.peers})
    try:
        token = relay.token_file.read_text().strip()
    except OSError as error:
        raise ConfigError(f"relay.token_file: cannot read {relay.token_file}: {error.strerror}") from None
    return ControllerRoutes(relay.controller_url, token)
