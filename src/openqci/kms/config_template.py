"""A KME configuration to fill in: every key of :mod:`openqci.kms.config`, each with a comment on it.

``openqci kms init`` writes it for a KME that runs on its own host. What the options give is filled in;
what they cannot know (the peers at the other ends of the KME's links, the controller for key relay) is
written as commented examples to copy. Paths are relative to the file's folder, as the loader reads them,
so the folder can be moved as a whole. With the files it names in place (the master key, the certificates
of ``openqci pki issue``) the file is valid as written: ``openqci kms check`` says what is still missing.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

from openqci.kms.config import Limits, ServingConfig
from openqci.kms.errors import ConfigError

__all__ = ["ConfigTemplate", "render_config_template", "write_config_template"]

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_SCHEMA = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class ConfigTemplate:
    """What ``openqci kms init`` knows of the KME: its ID, address, PKI folder, store and SAEs."""

    def __init__(
        self,
        kme_id: str,
        *,
        host: str = "127.0.0.1",
        port: int = 8443,
        pki: str = "pki",
        postgres: str | None = None,
        schema: str | None = None,
        saes: list[str] | None = None,
    ) -> None:
        if not _ID.match(kme_id):
            raise ConfigError(f"--kme-id {kme_id!r}: use letters, digits, '.', '_' or '-' (at most 64)")
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ConfigError(f"--host {host!r}: give the IP address the KME listens on") from None
        if not 0 <= port <= 65535:
            raise ConfigError(f"--port must lie in 0..65535, got {port}")
        bad = [s for s in saes or [] if not _ID.match(s)]
        if bad or len(set(saes or [])) != len(saes or []) or kme_id in (saes or []):
            raise ConfigError(f"--sae: SAE IDs must be distinct, differ from the KME ID and be plain: {bad}")
        self.schema = schema or re.sub(r"[^a-z0-9_]", "_", f"openqci_{kme_id.lower()}")
        if not _SCHEMA.match(self.schema):
            raise ConfigError(f"--schema {schema!r}: a plain lower-case SQL identifier (letters, digits, _)")
        if schema is not None and postgres is None:
            raise ConfigError("--schema names a PostgreSQL schema: give --postgres too")
        self.kme_id = kme_id
        self.host = host
        self.port = port
        self.pki = pki.rstrip("/") or "/"
        self.postgres = postgres
        self.saes = list(saes or [])


def render_config_template(template: ConfigTemplate) -> str:
    """The commented YAML of one KME's configuration."""
    t = template
    limits, serving = Limits(), ServingConfig()
    if t.postgres is not None:
        store = (
            "store:\n"
            "  # PostgreSQL: a libpq connection string or URL. A Unix socket folder works as host, e.g.\n"
            "  # 'host=/var/run/postgresql dbname=qkd user=kme'.\n"
            f"  postgres: {_quote(t.postgres)}\n"
            "  # The schema this KME's tables live in (created on first start): one per KME per database.\n"
            f"  schema: {t.schema}\n"
            "  # Or a SQLite file instead of postgres and schema (one KME per file):\n"
            "  # sqlite: keys.sqlite\n"
        )
    else:
        store = (
            "store:\n"
            "  # A SQLite file (created on first start; its folder must exist). One KME per file.\n"
            "  sqlite: keys.sqlite\n"
            "  # Or PostgreSQL instead of sqlite: a libpq connection string and the schema of this KME:\n"
            "  # postgres: 'host=/var/run/postgresql dbname=qkd user=kme'\n"
            f"  # schema: {t.schema}\n"
        )
    store += (
        "  # Bounds on what the store keeps (docs/kms.md, Limits). The SQLite write-ahead log is\n"
        "  # checkpointed so it stays under this size (bytes):\n"
        "  # max_wal_bytes: 67108864\n"
        "  # Consumed and expired units, deliveries and relay records are deleted this long after (s):\n"
        "  # retention_s: 86400\n"
        "  # A delivered key no SAE takes at the other end expires after (s):\n"
        "  # key_expiry_s: 86400\n"
        "  # How often the pruner runs (s), and at most how many rows per table it deletes each time:\n"
        "  # prune_interval_s: 1\n"
        "  # prune_batch_rows: 1000\n"
    )
    saes = "".join(f"  - sae_id: {sae}\n    certificate: {t.pki}/{sae}.pem\n" for sae in t.saes) or (
        "  # - sae_id: sae-1                    # the SAE's ID in requests\n"
        f"  #   certificate: {t.pki}/sae-1.pem     # its client certificate (openqci pki issue --sae)\n"
    )
    saes_key = "saes:\n" if t.saes else "saes: []\n"
    return (
        f"# Configuration of KME {t.kme_id}. `openqci kms check --config THIS_FILE` opens every file\n"
        "# and the store; `openqci kms serve --config THIS_FILE` runs the KME. Relative paths are taken\n"
        "# from this file's folder. Keys and limits: docs/kms.md and docs/deployment.md.\n"
        "\n"
        "# This KME's ID: the common name of its certificate, and what peers and SAEs call it.\n"
        f"kme_id: {t.kme_id}\n"
        "# The address and TCP port the ETSI GS QKD 014 API listens on (mutual TLS). SAEs and peer KMEs\n"
        "# connect here: open this port to them only. 0.0.0.0 listens on every address of the host.\n"
        f"host: {_quote(t.host)}\n"
        f"port: {t.port}\n"
        "# 32 random bytes that encrypt the key store at rest; create with `openqci kms masterkey FILE`.\n"
        "master_key_file: master.key\n"
        f"{store}"
        "tls:\n"
        "  # The CA that signed every KME and SAE (openqci pki init), this KME's certificate and key\n"
        "  # (openqci pki issue --kme ID --san IP:ADDRESS). The CA's private key is not needed here.\n"
        f"  ca: {t.pki}/ca.pem\n"
        f"  certificate: {t.pki}/{t.kme_id}.pem\n"
        f"  private_key: {t.pki}/{t.kme_id}.key\n"
        "# Key is stored in units of this many bits (a positive multiple of 8; the same on both ends of a\n"
        "# link).\n"
        "unit_bits: 256\n"
        "# What the KME announces in Status and enforces on every request; sizes in bits.\n"
        "limits:\n"
        f"  key_size: {limits.key_size}                # the size of a key when a request names none\n"
        f"  min_key_size: {limits.min_key_size}\n"
        f"  max_key_size: {limits.max_key_size}\n"
        f"  max_key_per_request: {limits.max_key_per_request}      # keys in one enc_keys request\n"
        f"  max_key_count: {limits.max_key_count}      # the most keys stored for one pair of SAEs\n"
        f"  max_SAE_ID_count: {limits.max_SAE_ID_count}          # additional slave SAEs in one request\n"
        f"  max_key_ids_per_request: {limits.max_key_ids_per_request} # key_IDs in one dec_keys request\n"
        "# How connections and requests are bounded (docs/kms.md, Limits): bytes and seconds.\n"
        "serving:\n"
        f"  max_connections: {serving.max_connections}              # held at once, from TCP accept\n"
        f"  max_connections_per_certificate: {serving.max_connections_per_certificate}\n"
        f"  tls_handshake_timeout_s: {serving.tls_handshake_timeout_s}\n"
        f"  keep_alive_timeout_s: {serving.keep_alive_timeout_s}        # idle, before and between requests\n"
        f"  header_timeout_s: {serving.header_timeout_s}\n"
        f"  body_timeout_s: {serving.body_timeout_s}\n"
        f"  write_timeout_s: {serving.write_timeout_s}       # an answer the client does not read\n"
        f"  max_header_bytes: {serving.max_header_bytes}\n"
        f"  max_body_bytes: {serving.max_body_bytes}\n"
        f"  api_docs: {'true' if serving.api_docs else 'false'}                   # /docs and /openapi.json\n"
        "# The SAEs this KME serves, each known by its client certificate (openqci pki issue --sae ID).\n"
        f"{saes_key}{saes}"
        "# The KMEs at the other end of this KME's QKD links: their URL (their host and port), their\n"
        "# certificate, the link's ID (the same on both ends) and the SAEs they serve.\n"
        "peers: []\n"
        "# peers:\n"
        "#   - kme_id: kme-2\n"
        "#     url: https://192.0.2.20:8443\n"
        f"#     certificate: {t.pki}/kme-2.pem\n"
        "#     link_id: link-1-2\n"
        "#     saes: [sae-2]\n"
        "#     # Without source, key comes from `openqci kms feed` (key files of the QKD device). A device\n"
        "#     # serving ETSI GS QKD 014 is asked directly instead (see docs/devices.md):\n"
        "#     source:\n"
        "#       kind: etsi014\n"
        "#       url: https://qkd-device.example:443\n"
        "#       sae_id: kme-1-at-device        # this KME's SAE ID at its device\n"
        "#       peer_sae_id: kme-2-at-device   # the peer KME's SAE ID at the peer's device\n"
        "#       ca: device/ca.pem\n"
        "#       certificate: device/client.pem\n"
        "#       private_key: device/client.key\n"
        "#       key_size: 256               # bits per device key (a multiple of unit_bits)\n"
        "#       keys_per_request: 16\n"
        "#       interval_s: 1.0             # seconds between requests\n"
        "#       timeout_s: 5.0\n"
        "#       max_backoff_s: 10.0\n"
        "#       max_pending_offers: 8\n"
        "#       epsilon: 1.0e-10            # the device's security parameter\n"
        "# Key relay to KMEs that are not neighbours. Without controller_url only neighbours are reached.\n"
        "relay:\n"
        "  saes: {}                          # SAE ID: KME ID, for SAEs of KMEs further away\n"
        "  max_routes: 3                     # routes tried for one relayed key\n"
        "  hop_timeout_s: 5.0\n"
        "  # The network controller that picks routes (docs/deployment.md). Over https the KME presents\n"
        "  # its own certificate (tls above) and checks the controller's against ca (default tls.ca);\n"
        "  # token_file holds the controller's bearer token, needed over http, optional over https.\n"
        "  # controller_url: https://192.0.2.1:8000\n"
        f"  # ca: {t.pki}/ca.pem\n"
        "  # token_file: controller.token\n"
    )


def write_config_template(path: Path, template: ConfigTemplate) -> None:
    """Write the template to ``path``, which must not exist (a configuration is never overwritten)."""
    if not path.parent.is_dir():
        raise ConfigError(f"{path}: the folder {path.parent} does not exist")
    try:
        with path.open("x") as handle:
            handle.write(render_config_template(template))
    except FileExistsError:
        raise ConfigError(f"{path} exists already; a configuration is never overwritten") from None


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
