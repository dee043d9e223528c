"""Builds one running KME from its configuration: store, identities, peer clients, manager and app.

Peer clients are handed their transports. By default each gets a keep-alive mutual-TLS transport built
from the KME's own certificate (which carries both client and server usage); tests pass
``httpx.ASGITransport`` objects instead to run several KMEs in one process.

A peer whose link names a key source (``source: {kind: etsi014, ...}``) gets a driver
(:class:`openqci.kms.device_etsi014.Etsi014Link`) that takes the link's key from a QKD device; the app's
lifespan starts the drivers after the manager and stops them before it.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi import FastAPI

from openqci.kms.api.app import create_app
from openqci.kms.config import KmeConfig
from openqci.kms.crypto import MasterKey
from openqci.kms.device_etsi014 import Etsi014Link
from openqci.kms.errors import ConfigError
from openqci.kms.identity import Directory, read_fingerprint
from openqci.kms.manager import KeyManager, PeerLink
from openqci.kms.peer import PeerClient
from openqci.kms.postgres_store import PostgresKeyStore
from openqci.kms.relay import RelayOptions
from openqci.kms.relay_ledger import RelayLedger
from openqci.kms.retention import RetentionPolicy
from openqci.kms.route_provider import ControllerRoutes, NeighbourRoutes, RouteProvider
from openqci.kms.sqlite_store import SqliteKeyStore
from openqci.kms.sqlstore import SqlKeyStore
from openqci.kms.tls import client_context
from openqci.ops.metrics_kme import KmeMetrics, LinkKeyCounts, StoreFigures
from openqci.services.sae_client import SaeClient, SaeClientError, mutual_tls_context

__all__ = ["Kme", "build_kme", "open_store"]


@dataclass(frozen=True)
class Kme:
    """A KME ready to serve: its app, the manager behind it (for feeding KeyBlocks), its device links.

    ``metrics`` is the registry served at ``/metrics``; the process feeding the KME's links records their
    key sources' state in it.
    """

    config: KmeConfig
    manager: KeyManager
    app: FastAPI
    metrics: KmeMetrics
    devices: tuple[Etsi014Link, ...] = ()


def open_store(config: KmeConfig) -> SqlKeyStore:
    """Open the key store named in the configuration."""
    master_key = MasterKey.from_file(config.master_key_file)
    if config.store.sqlite is not None:
        return SqliteKeyStore(config.store.sqlite, master_key, max_wal_bytes=config.store.max_wal_bytes)
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
    reader = _StoreReader(config)
    metrics = KmeMetrics(config.kme_id, reader)
    relay = RelayOptions(
        RelayLedger(store, kme_id=config.kme_id, unit_bits=config.unit_bits),
        route_provider or _route_provider(config),
        config.relay.saes,
        max_routes=config.relay.max_routes,
        hop_timeout_s=config.relay.hop_timeout_s,
        observe=metrics.observe_relay,
    )
    manager = KeyManager(
        config.kme_id,
        store,
        peers,
        local_saes=frozenset(s.sae_id for s in config.saes),
        limits=config.limits,
        unit_bits=config.unit_bits,
        relay=relay,
        retention=RetentionPolicy.from_config(config.store),
    )
    devices = tuple(_device_links(config, peers, manager, store))
    for device in devices:
        manager.attach_source(device)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        manager.start()
        for device in devices:
            device.start()
        app.state.serving = True
        yield
        app.state.serving = False
        for device in devices:
            await device.stop()
        await manager.aclose()
        reader.close()

    app = create_app(
        manager,
        directory,
        lifespan=lifespan,
        device_links={d.link_id: d for d in devices},
        api_docs=config.serving.api_docs,
        metrics=metrics,
    )
    return Kme(config, manager, app, metrics, devices)


class _StoreReader:
    """What a scrape reads: each link's key, through a store connection of its own (opened at first use).

    The scrape runs in a worker thread beside the KME's committer, so it reads through its own connection
    (SQLite in WAL mode lets it read while the committer writes) under a lock of its own.
    """

    def __init__(self, config: KmeConfig) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._store: SqlKeyStore | None = None

    def __call__(self) -> StoreFigures:
        config, bits = self._config, self._config.unit_bits
        counts = []
        with self._lock:
            if self._store is None:
                self._store = open_store(config)
            for link in (p.link_id for p in config.peers):
                made, consumed = self._store.key_counts(link)
                available = self._store.available_units(link)
                counts.append(LinkKeyCounts(link, available * bits, made * bits, consumed * bits))
        path = config.store.sqlite
        return StoreFigures(tuple(counts), _size(path), _size(None if path is None else Path(f"{path}-wal")))

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None


def _size(path: Path | None) -> int:
    try:
        return 0 if path is None else path.stat().st_size
    except FileNotFoundError:
        return 0


def _device_links(
    config: KmeConfig, peers: list[PeerLink], manager: KeyManager, store: SqlKeyStore
) -> list[Etsi014Link]:
    """The drivers of the links whose key comes from a QKD device over ETSI GS QKD 014."""
    links = []
    for i, (entry, peer) in enumerate(zip(config.peers, peers, strict=True)):
        source = entry.source
        if source is None:
            continue
        try:
            context = mutual_tls_context(source.ca, source.certificate, source.private_key)
        except SaeClientError as error:
            raise ConfigError(f"peers.{i}.source: {error}") from None
        device = SaeClient(source.url, context, timeout_s=source.timeout_s, attempts=1)
        links.append(
            Etsi014Link(
                kme_id=config.kme_id,
                peer_kme_id=peer.kme_id,
                link_id=peer.link_id,
                config=source,
                device=device,
                peer=peer.client,
                committer=manager.committer,
                store=store,
                unit_bits=config.unit_bits,
                max_free_units=manager.max_free_units,
            )
        )
    return links


def _mtls_transport(config: KmeConfig) -> httpx.AsyncBaseTransport:
    context = client_context(config.tls.ca, config.tls.certificate, config.tls.private_key)
    return httpx.AsyncHTTPTransport(
        verify=context, limits=httpx.Limits(max_connections=64, max_keepalive_connections=32)
    )


def _route_provider(config: KmeConfig) -> RouteProvider:
    relay = config.relay
    if relay.controller_url is None:
        return NeighbourRoutes(config.kme_id, {p.kme_id: p.link_id for p in config.peers})
    token = None
    if relay.token_file is not None:
        try:
            token = relay.token_file.read_text().strip()
        except OSError as error:
            raise ConfigError(f"relay.token_file: cannot read {relay.token_file}: {error.strerror}") from None
    verify = None
    if relay.controller_url.startswith("https://"):
        # mutual TLS with the controller: the KME's own certificate, the controller's CA (tls.ca by default)
        verify = client_context(relay.ca or config.tls.ca, config.tls.certificate, config.tls.private_key)
    return ControllerRoutes(relay.controller_url, token, verify=verify)
