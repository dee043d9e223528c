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

    @model_validator(mode="after")
    def _sizes(self) -> Limits:
        for name in ("key_size", "min_key_size", "max_key_size"):
            if getattr(self, name) <= 0 or getattr(self, name) % 8:
                raise ValueError(f"{name} must be a positive multiple of 8")
        if not self.min_key_size <= self.key_size <= self.max_key_size:
            raise ValueError("need min_key_size <= key_size <= max_key_size")
        return self


class StoreConfig(_Strict):
    """Where keys are kept: a SQLite file (the default) or a PostgreSQL connection string and schema."""

    sqlite: Path | None = None
    postgres: str | None = None
    schema_name: str = Field(default="openqci_kms", alias="schema")

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
    listed here (and not under its peer) is reached by relay over the direct link.
    """

    controller_url: str | None = Field(default=None, pattern=r"^https?://")
    token_file: Path | None = None
    saes: dict[str, str] = Field(default_factory=dict)
    max_routes: int = Field(default=3, ge=1, le=16)
    hop_timeout_s: float = Field(default=5.0, gt=0.0)

    @model_validator(mode="after")
    def _token(self) -> RelayConfig:
        if (self.controller_url is None) != (self.token_file is None):
            raise ValueError("give controller_url and token_file together (the controller's bearer token)")
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
