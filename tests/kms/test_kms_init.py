"""``openqci pki issue`` adds KMEs and SAEs to a CA; ``openqci kms init`` writes what kms check passes."""

from __future__ import annotations

import ipaddress
import os
import stat
import uuid
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from pydantic import BaseModel
from typer.testing import CliRunner

from openqci.cli import app
from openqci.kms.config import KmeConfig, load_config
from openqci.kms.config_template import ConfigTemplate, render_config_template
from openqci.kms.errors import ConfigError, PkiError
from openqci.kms.pki import init_pki, issue_certificate
from openqci.kms.tls import client_context, server_context
from tests.kms.conftest import _postgres_reachable
from tests.support import require_service

SOCKET_DSN = "host=/var/run/postgresql dbname=test user=postgres"


def openqci(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_pki_init_keeps_the_ca_key_apart_in_a_private_folder(tmp_path: Path) -> None:
    init_pki(tmp_path, ["kme-a"], ["sae-a"])
    assert not (tmp_path / "ca.key").exists()
    assert stat.S_IMODE((tmp_path / "private").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "private" / "ca.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "kme-a.key").stat().st_mode) == 0o600


def test_pki_issue_adds_a_kme_with_its_addresses_that_the_ca_verifies(tmp_path: Path) -> None:
    init_pki(tmp_path / "ca", ["kme-a"], [])
    out = tmp_path / "host-b"
    openqci("pki", "issue", str(tmp_path / "ca"), "--kme", "kme-b", "--san", "IP:10.77.0.2",
            "--san", "DNS:kme-b.example", "--out", str(out))  # fmt: skip
    cert = x509.load_pem_x509_certificate((out / "kme-b.pem").read_bytes())
    ca = x509.load_pem_x509_certificate((tmp_path / "ca" / "ca.pem").read_bytes())
    cert.verify_directly_issued_by(ca)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.77.0.2")]
    assert names.get_values_for_type(x509.DNSName) == ["kme-b", "kme-b.example"]
    assert stat.S_IMODE((out / "kme-b.key").stat().st_mode) == 0o600
    # the new KME and an old one complete a mutual TLS handshake (both directions of use)
    server_context(tmp_path / "ca" / "ca.pem", out / "kme-b.pem", out / "kme-b.key")
    client_context(tmp_path / "ca" / "ca.pem", tmp_path / "ca" / "kme-a.pem", tmp_path / "ca" / "kme-a.key")


def test_pki_issue_refuses_to_overwrite_and_an_sae_with_a_san(tmp_path: Path) -> None:
    init_pki(tmp_path, ["kme-a"], ["sae-a"])
    before = (tmp_path / "kme-a.pem").read_bytes()
    with pytest.raises(PkiError, match="never overwritten"):
        issue_certificate(tmp_path, "kme-a", kme=True)
    assert (tmp_path / "kme-a.pem").read_bytes() == before
    with pytest.raises(PkiError, match="SAE certificate"):
        issue_certificate(tmp_path, "sae-b", kme=False, san=["IP:10.0.0.1"])
    with pytest.raises(PkiError, match=r"DNS:host\.example or IP:"):
        issue_certificate(tmp_path, "kme-b", kme=True, san=["10.0.0.1"])
    sae = issue_certificate(tmp_path, "sae-b", kme=False)
    cert = x509.load_pem_x509_certificate(sae.certificate.read_bytes())
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)


def test_pki_issue_finds_the_ca_key_of_an_older_layout_and_refuses_a_foreign_one(tmp_path: Path) -> None:
    init_pki(tmp_path / "old", ["kme-a"], [])
    os.rename(tmp_path / "old" / "private" / "ca.key", tmp_path / "old" / "ca.key")
    issue_certificate(tmp_path / "old", "kme-b", kme=True)
    init_pki(tmp_path / "other", ["kme-x"], [])
    os.rename(tmp_path / "other" / "private" / "ca.key", tmp_path / "old" / "private-ca.key")
    (tmp_path / "old" / "ca.key").unlink()
    (tmp_path / "old" / "private").mkdir(exist_ok=True)
    os.rename(tmp_path / "old" / "private-ca.key", tmp_path / "old" / "private" / "ca.key")
    with pytest.raises(PkiError, match="is not the private key of"):
        issue_certificate(tmp_path / "old", "kme-c", kme=True)


def _fields(model: type[BaseModel]) -> set[str]:
    names: set[str] = set()
    for name, field in model.model_fields.items():
        names.add(field.alias or name)
        for inner in (field.annotation, *getattr(field.annotation, "__args__", ())):
            for candidate in (inner, *getattr(inner, "__args__", ())):
                if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                    names |= _fields(candidate)
    return names


def test_the_template_names_every_configuration_key() -> None:
    text = render_config_template(ConfigTemplate("kme-1"))
    keys = {line.lstrip("# -").split(":")[0] for line in text.splitlines() if ":" in line}
    assert _fields(KmeConfig) - keys == set()


def test_the_commented_examples_are_valid_once_uncommented(tmp_path: Path) -> None:
    """Uncommenting the peer (with its device source) and the controller gives a configuration that loads."""
    text = render_config_template(ConfigTemplate("kme-1", saes=["sae-1"]))
    lines = text.replace("peers: []\n", "").replace("  # controller_url: https", "  controller_url: https")
    lines = lines.replace("  # ca: pki", "  ca: pki").replace("  # token_file: ", "  token_file: ")
    uncommented = "\n".join(
        line[2:] if line.startswith(("# peers:", "#   ", "#     ")) else line for line in lines.splitlines()
    )
    path = tmp_path / "kme.yaml"
    path.write_text(uncommented)
    config = load_config(path)
    assert config.peers[0].source is not None
    assert config.peers[0].source.kind == "etsi014"
    assert config.relay.controller_url == "https://192.0.2.1:8000"
    assert config.relay.ca == tmp_path / "pki" / "ca.pem"


def _deployed_kme(tmp_path: Path, *init_args: str) -> Path:
    """A CA made elsewhere; on the KME's host: its certificate, its SAE's, the peer's, and kms init."""
    init_pki(tmp_path / "ca", [], [])
    host = tmp_path / "kme-1"
    for args in (["--kme", "kme-1", "--san", "IP:10.77.0.1"], ["--kme", "kme-2", "--san", "IP:10.77.0.2"],
                 ["--sae", "sae-1"]):  # fmt: skip
        openqci("pki", "issue", str(tmp_path / "ca"), *args, "--out", str(host / "pki"))
    (host / "pki" / "ca.pem").write_bytes((tmp_path / "ca" / "ca.pem").read_bytes())
    config = host / "kme.yaml"
    init = ["--kme-id", "kme-1", "--host", "10.77.0.1", "--sae", "sae-1", *init_args]
    openqci("kms", "init", str(config), *init)
    openqci("kms", "masterkey", str(host / "master.key"))
    document = yaml.safe_load(config.read_text())
    document["peers"] = [
        {"kme_id": "kme-2", "url": "https://10.77.0.2:8443", "certificate": "pki/kme-2.pem",
         "link_id": "link-1-2", "saes": ["sae-2"]}
    ]  # fmt: skip
    config.write_text(yaml.safe_dump(document))
    assert not list(host.rglob("ca.key")), "the CA's key never reaches a KME host"
    return config


def test_kms_init_and_pki_issue_pass_kms_check_on_sqlite(tmp_path: Path) -> None:
    config = _deployed_kme(tmp_path)
    report = openqci("kms", "check", "--config", str(config), "--json")
    assert '"kme_id":"kme-1"' in report
    assert '"listen":"10.77.0.1:8443"' in report
    assert (config.parent / "keys.sqlite").exists()


@pytest.mark.postgres
def test_kms_init_and_pki_issue_pass_kms_check_on_postgres_over_its_socket(tmp_path: Path) -> None:
    require_service("PostgreSQL", _postgres_reachable(), "no connection to the test server")
    require_service("PostgreSQL's socket", Path("/var/run/postgresql").is_dir(), "no /var/run/postgresql")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    config = _deployed_kme(tmp_path, "--postgres", SOCKET_DSN, "--schema", schema)
    try:
        assert load_config(config).store.postgres == SOCKET_DSN
        openqci("kms", "check", "--config", str(config))
    finally:
        import psycopg

        with psycopg.connect(SOCKET_DSN, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def test_kms_check_refuses_what_kms_init_left_unfinished(tmp_path: Path) -> None:
    config = _deployed_kme(tmp_path)
    (config.parent / "pki" / "sae-1.pem").unlink()
    result = CliRunner().invoke(app, ["kms", "check", "--config", str(config)])
    assert result.exit_code != 0
    assert "sae-1.pem" in str(result.exception) + result.output


def test_kms_init_refuses_to_overwrite_and_bad_values(tmp_path: Path) -> None:
    config = tmp_path / "kme.yaml"
    config.write_text("mine\n")
    result = CliRunner().invoke(app, ["kms", "init", str(config), "--kme-id", "kme-1"])
    assert result.exit_code != 0
    assert config.read_text() == "mine\n"
    for bad, match in [
        ({"host": "kme.example"}, "--host"),
        ({"port": 70000}, "--port"),
        ({"schema": "Bad-Name", "postgres": "dbname=x"}, "--schema"),
        ({"schema": "fine"}, "give --postgres too"),
        ({"saes": ["kme-1"]}, "--sae"),
    ]:
        with pytest.raises(ConfigError, match=match):
            ConfigTemplate("kme-1", **bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="--kme-id"):
        ConfigTemplate("kme 1")
