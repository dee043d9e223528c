"""The configuration of one KME, read from YAML: its identity, store, TLS files, SAEs, peers and limits.

Relative paths are taken from the configuration file's directory. Every problem is reported as one
:class:`openqci.kms.errors.ConfigError` naming the field, e.g. ``peers.0.url: ...``.
"""

# ruff: noqa: N815  (fields keep the standard's spelling: key_ID, slave_SAE_ID, ...)
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from openqci.kms.errors import ConfigError
from openqci.yamlfile import YamlFileError, read_yaml_mapping

__all__ = [
    "Etsi014SourceConfig",
    "KmeConfig",
    "Limits",
    "PeerConfig",
    "RelayConfig",
    "SaeConfig",
    "ServingConfig",
    "StoreConfig",
    "TlsConfig",
    "load_config",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Limits(_Strict):
    """The limits announced in Status (GS QKD 014 Table 9) and enforced on every request; sizes in bits."""

    key_size: int = 256
    min_key_size: int = 64
    max_key_size: int = 8192
    max_key_per_request: int = Field(default=128, ge=1)
    max_key_count: int = Field(default=1_000_000, ge=1)
    max_SAE_ID_count: int = Field(default=4, ge=0)
    max_key_ids_per_request: int = Field(default=1000, ge=1, le=10_000)

    @model_validator(mode="after")
    def _sizes(self) -> Limits:
        for name in ("key_size", "min_key_size", "max_key_size"):
            if getattr(self, name) <= 0 or getattr(self, name) % 8:
                raise ValueError(f"{name} must be a positive multiple of 8")
        if not self.min_key_size <= self.key_size <= self.max_key_size:
            raise ValueError("need min_key_size <= key_size <= max_key_size")
        return self


class ServingConfig(_Strict):
    """How the KME holds connections and reads requests: caps, timeouts and sizes, all enforced.

    A connection is counted from its TCP accept, through the TLS handshake, until it closes. At
    ``max_connections`` a new connection closes the one that has waited longest without a request in
    progress (in its handshake, idle, or still sending its request), so clients that hold connections
    open cannot lock a legitimate one out; ``max_connections_per_certificate`` bounds what one client
    certificate holds. An answer its client stops reading holds its connection at most
    ``write_timeout_s``. Sizes are in bytes, times in seconds.
    """

    max_connections: int = Field(default=512, ge=2, le=65_536)
    max_connections_per_certificate: int = Field(default=128, ge=1, le=65_536)
    tls_handshake_timeout_s: float = Field(default=5.0, gt=0.0, le=300.0)
    header_timeout_s: float = Field(default=10.0, gt=0.0, le=300.0)
    body_timeout_s: float = Field(default=30.0, gt=0.0, le=3600.0)
    keep_alive_timeout_s: float = Field(default=30.0, gt=0.0, le=3600.0)
    write_timeout_s: float = Field(default=30.0, gt=0.0, le=3600.0)
    max_header_bytes: int = Field(default=16_384, ge=1024, le=1_048_576)
    max_body_bytes: int = Field(default=4_194_304, ge=1024, le=1_073_741_824)
    api_docs: bool = False


class StoreConfig(_Strict):
    """Where keys are kept (a SQLite file, the default, or a PostgreSQL schema), and how long rows stay.

    ``max_wal_bytes`` caps SQLite's write-ahead log. Slave-side keys no SAE has taken expire after
    ``key_expiry_s``; consumed and expired units, key rows, delivery records and relay records are
    deleted ``retention_s`` after they were consumed (or written), every ``prune_interval_s``, at most
    ``prune_batch_rows`` rows per table and store call (docs/kms.md, "Limits").
    """

    sqlite: Path | None = None
    postgres: str | None = None
    schema_name: str = Field(default="openqci_kms", alias="schema")
    max_wal_bytes: int = Field(default=64 << 20, ge=1 << 20)
    retention_s: float = Field(default=86_400.0, gt=0.0)
    key_expiry_s: float = Field(default=86_400.0, gt=0.0)
    prune_interval_s: float = Field(default=1.0, gt=0.0, le=3600.0)
    prune_batch_rows: int = Field(default=1000, ge=1, le=100_000)

    @model_validator(mode="after")
    def _one(self) -> StoreConfig:
        if (self.sqlite is None) == (self.postgres is None):
            raise ValueError("give exactly one of sqlite (a file path) or postgres (a connection string)")
        return self


class TlsConfig(_Strict):
    """PEM files: the CA that signs every KME and SAE, and this KME's certificate and private key."""

    ca: Path
    certificate: Path
    private_key: Path


class SaeConfig(_Strict):
    """An SAE served by this KME, identified by the SHA-256 fingerprint of its client certificate."""

    sae_id: str = Field(min_length=1)
    certificate: Path


class Etsi014SourceConfig(_Strict):
    """A QKD device that hands its key to this KME over ETSI GS QKD 014 (the KME is one of its SAEs).

    Both ends of the link name their own device: ``sae_id`` is this KME's SAE ID at its device,
    ``peer_sae_id`` the peer KME's SAE ID at the peer's device. The end whose KME ID sorts first asks its
    device for keys (enc_keys for ``peer_sae_id``) and offers their IDs to the peer, which takes the same
    keys from its own device (dec_keys from ``peer_sae_id``). See ``docs/devices.md``.
    """

    kind: Literal["etsi014"]
    url: str = Field(pattern=r"^https://")
    sae_id: str = Field(min_length=1)
    peer_sae_id: str = Field(min_length=1)
    ca: Path
    certificate: Path
    private_key: Path
    key_size: int = Field(default=256, gt=0, multiple_of=8)
    keys_per_request: int = Field(default=16, ge=1, le=1024)
    interval_s: float = Field(default=1.0, gt=0.0)
    timeout_s: float = Field(default=5.0, gt=0.0)
    max_backoff_s: float = Field(default=10.0, gt=0.0)
    max_pending_offers: int = Field(default=8, ge=1, le=1024)
    epsilon: float = Field(default=1e-10, gt=0.0, lt=1.0)

    @model_validator(mode="after")
    def _distinct(self) -> Etsi014SourceConfig:
        if self.sae_id == self.peer_sae_id:
            raise ValueError("sae_id and peer_sae_id name the two ends' SAEs and must differ")
        return self


class PeerConfig(_Strict):
    """A KME at the other end of a QKD link, and the SAEs it serves.

    ``source`` names the link's key source when this KME takes its key from a QKD device; without it the
    link's KeyBlocks are fed through the Python API.
    """

    kme_id: str = Field(min_length=1)
    url: str = Field(pattern=r"^https?://")
    certificate: Path
    link_id: str = Field(min_length=1)
    saes: list[str] = Field(default_factory=list)
    source: Etsi014SourceConfig | None = None


class RelayConfig(_Strict):
    """Key relay to KMEs that are not neighbours: where routes come from, and the SAEs of those KMEs.

    Without ``controller_url`` the KME relays only to its neighbours (one hop, e.g. for additional slaves
    behind another neighbour). ``saes`` maps each SAE of another KME to its KME ID; an SAE of a neighbour
    listed here (and not under its peer) is reached by relay over the direct link. A controller over
    ``http`` is asked with the bearer token in ``token_file``; over ``https`` the KME presents its own
    certificate and checks the controller's against ``ca`` (``tls.ca`` when not given), and the token is
    optional.
    """

    controller_url: str | None = Field(default=None, pattern=r"^https?://")
    token_file: Path | None = None
    ca: Path | None = None
    saes: dict[str, str] = Field(default_factory=dict)
    max_routes: int = Field(default=3, ge=1, le=16)
    hop_timeout_s: float = Field(default=5.0, gt=0.0)

    @model_validator(mode="after")
    def _token(self) -> RelayConfig:
        if self.controller_url is None and (self.token_file is not None or self.ca is not None):
            raise ValueError("token_file and ca belong to a controller: give controller_url too")
        if self.controller_url is not None and self.controller_url.startswith("http://"):
            if self.token_file is None:
                raise ValueError("a controller over http needs token_file (the controller's bearer token)")
            if self.ca is not None:
                raise ValueError("ca checks a controller over https; this controller_url is http")
        return self


class KmeConfig(_Strict):
    """One KME: ``openqci kms serve --config kme.yaml`` runs it."""

    kme_id: str = Field(min_length=1)
    host: str = "127.0.0.1"
    port: int = Field(default=8443, ge=0, le=65535)
    master_key_file: Path
    store: StoreConfig
    tls: TlsConfig
    unit_bits: int = Field(default=256, gt=0, multiple_of=8)
    limits: Limits = Limits()
    saes: list[SaeConfig] = Field(default_factory=list)
    peers: list[PeerConfig] = Field(default_factory=list)
    relay: RelayConfig = RelayConfig()
    serving: ServingConfig = ServingConfig()

    @model_validator(mode="after")
    def _unique(self) -> KmeConfig:
        local = [s.sae_id for s in self.saes]
        remote = [s for p in self.peers for s in p.saes] + list(self.relay.saes)
        if len(set(local + remote)) != len(local + remote):
            raise ValueError("an SAE ID appears twice among saes, peers.saes and relay.saes")
        if self.kme_id in self.relay.saes.values():
            raise ValueError("relay.saes must name SAEs of other KMEs (this KME's own go under saes)")
        if len({p.kme_id for p in self.peers} | {self.kme_id}) != len(self.peers) + 1:
            raise ValueError("peer kme_ids must be distinct and differ from kme_id")
        for i, peer in enumerate(self.peers):
            if peer.source is not None and peer.source.key_size % self.unit_bits:
                raise ValueError(
                    f"peers.{i}.source.key_size ({peer.source.key_size}) must be a multiple of "
                    f"unit_bits ({self.unit_bits}), so that the device's keys fill whole units"
                )
        return self


def load_config(path: Path) -> KmeConfig:
    """Read a KME configuration file; relative paths in it are resolved against its directory."""
    try:
        raw = read_yaml_mapping(str(path), "kme_id, store, tls, saes, peers, ...")
    except YamlFileError as error:
        raise ConfigError(f"{path}: {error}") from None
    try:
        config = KmeConfig.model_validate(_resolve(raw, path.parent))
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ConfigError(f"{path}: {where}: {first['msg']}") from None
    return config


_PATH_FIELDS = {"master_key_file", "sqlite", "ca", "certificate", "private_key", "token_file"}


def _resolve(node: Any, base: Path) -> Any:
    """Make the relative paths of the file's path fields absolute."""
    if isinstance(node, list):
        return [_resolve(item, base) for item in node]
    if not isinstance(node, dict):
        return node
    return {
        key: str(base / value) if key in _PATH_FIELDS and isinstance(value, str) else _resolve(value, base)
        for key, value in node.items()
    }
