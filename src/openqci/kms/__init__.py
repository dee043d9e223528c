"""The key management entity (KME): a durable key store fed by QKD links, ETSI GS QKD 014 over mutual TLS.

Typical use::

    from openqci.kms import build_kme, load_config
    kme = build_kme(load_config(Path("kme.yaml")))
    kme.manager.add_block(block)        # KeyBlocks from the link
    # or key files from a QKD device: ``openqci kms feed --config kme.yaml --from DIR`` (Feeder)
    # serve kme.app with openqci.kms.serve(kme), or ``openqci kms serve --config kme.yaml``
"""

from __future__ import annotations

from openqci.kms.config import (
    Etsi014SourceConfig,
    KmeConfig,
    Limits,
    PeerConfig,
    RelayConfig,
    SaeConfig,
    ServingConfig,
    StoreConfig,
    TlsConfig,
    load_config,
)
from openqci.kms.crypto import MasterKey, write_master_key
from openqci.kms.device_etsi014 import Etsi014Link
from openqci.kms.errors import (
    BadRequestError,
    ConfigError,
    DeviceError,
    KeyFileError,
    KeyShortageError,
    KeysNotFoundError,
    KmsError,
    PeerError,
    PkiError,
    PoolFullError,
    RelayError,
    RouteUnavailableError,
    StoreError,
    UnauthorizedError,
)
from openqci.kms.key_feed import Feeder, FeedReport
from openqci.kms.key_files import KeyFileSource
from openqci.kms.manager import KeyManager, PeerLink
from openqci.kms.node import Kme, build_kme, open_store
from openqci.kms.peer import PeerClient
from openqci.kms.pki import PkiLayout, init_pki, issue_certificate
from openqci.kms.postgres_store import PostgresKeyStore
from openqci.kms.records import DeliveredKey, KeyDelivery, KeyPlan, Reservation, UnitState
from openqci.kms.relay import KeyRelay, RelayedKeys, RelayOptions
from openqci.kms.relay_ledger import RelayLedger
from openqci.kms.route_provider import ControllerRoutes, NeighbourRoutes, RelayRoute, RouteProvider
from openqci.kms.server import serve
from openqci.kms.sqlite_store import SqliteKeyStore
from openqci.kms.store import KeyStore
from openqci.kms.units import unit_key_id

__all__ = [
    "BadRequestError",
    "ConfigError",
    "ControllerRoutes",
    "DeliveredKey",
    "DeviceError",
    "Etsi014Link",
    "Etsi014SourceConfig",
    "FeedReport",
    "Feeder",
    "KeyDelivery",
    "KeyFileError",
    "KeyFileSource",
    "KeyManager",
    "KeyPlan",
    "KeyRelay",
    "KeyShortageError",
    "KeyStore",
    "KeysNotFoundError",
    "Kme",
    "KmeConfig",
    "KmsError",
    "Limits",
    "MasterKey",
    "NeighbourRoutes",
    "PeerClient",
    "PeerConfig",
    "PeerError",
    "PeerLink",
    "PkiError",
    "PkiLayout",
    "PoolFullError",
    "PostgresKeyStore",
    "RelayConfig",
    "RelayError",
    "RelayLedger",
    "RelayOptions",
    "RelayRoute",
    "RelayedKeys",
    "Reservation",
    "RouteProvider",
    "RouteUnavailableError",
    "SaeConfig",
    "ServingConfig",
    "SqliteKeyStore",
    "StoreConfig",
    "StoreError",
    "TlsConfig",
    "UnauthorizedError",
    "UnitState",
    "build_kme",
    "init_pki",
    "issue_certificate",
    "load_config",
    "open_store",
    "serve",
    "unit_key_id",
    "write_master_key",
]
