"""Configuration loading (errors name the field) and the ``openqci kms`` and ``openqci pki`` commands."""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from openqci.cli import app
from openqci.kms.config import load_config
from openqci.kms.errors import ConfigError
from tests.kms.harness import make_site


def _edit(path, change) -> None:
    document = yaml.safe_load(path.read_text())
    change(document)
    path.write_text(yaml.safe_dump(document))


SOURCE = {
    "kind": "etsi014",
    "url": "https://device-a:443",
    "sae_id": "qkd-sae-a",
    "peer_sae_id": "qkd-sae-b",
    "ca": "device/ca.pem",
    "certificate": "device/kme-a.pem",
    "private_key": "device/kme-a.key",
}


def _with_source(**fields):
    return lambda d: d["peers"][0].update(source=SOURCE | fields)


def test_a_site_configuration_loads_with_paths_resolved(tmp_path) -> None:
    site = make_site(tmp_path)
    config = load_config(site.config_paths["kme-a"])
    assert config.kme_id == "kme-a"
    assert config.host == "127.0.0.1"
    assert config.tls.ca == tmp_path / "pki" / "ca.pem"
    assert config.peers[0].saes == ["sae-b1", "sae-b2", "sae-b3"]
    assert config.peers[0].source is None


def test_a_device_source_loads_with_its_defaults_and_paths_resolved(tmp_path) -> None:
    site = make_site(tmp_path)
    _edit(site.config_paths["kme-a"], _with_source(keys_per_request=32))
    source = load_config(site.config_paths["kme-a"]).peers[0].source
    assert source is not None
    assert source.certificate == tmp_path / "device" / "kme-a.pem"
    assert (source.key_size, source.keys_per_request, source.max_pending_offers) == (256, 32, 8)
    assert (source.interval_s, source.timeout_s, source.max_backoff_s) == (1.0, 5.0, 10.0)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.pop("kme_id"), "kme_id"),
        (lambda d: d["limits"].update(key_size=100), "limits"),
        (lambda d: d.update(store={"sqlite": "a", "postgres": "b"}), "store"),
        (lambda d: d["peers"][0].update(url="ftp://x"), "peers.0.url"),
        (lambda d: d.update(colour="blue"), "colour"),
        (lambda d: d["saes"].append({"sae_id": "sae-b1", "certificate": "x.pem"}), "SAE ID appears twice"),
        (_with_source(kind="files"), "peers.0.source.kind"),
        (_with_source(url="http://device-a"), "peers.0.source.url"),
        (_with_source(colour="blue"), "peers.0.source.colour"),
        (_with_source(keys_per_request=0), "peers.0.source.keys_per_request"),
        (_with_source(timeout_s=0), "peers.0.source.timeout_s"),
        (_with_source(peer_sae_id="qkd-sae-a"), "peers.0.source"),
        (_with_source(key_size=128), "peers.0.source.key_size"),
        (lambda d: d["peers"][0].update(source={"kind": "etsi014"}), "peers.0.source.url"),
        (lambda d: d.update(serving={"max_connections": 0}), "serving.max_connections"),
        (lambda d: d.update(serving={"header_timeout_s": -1}), "serving.header_timeout_s"),
        (lambda d: d.update(serving={"max_body_bytes": 10}), "serving.max_body_bytes"),
        (lambda d: d.update(serving={"slowloris": True}), "serving.slowloris"),
        (lambda d: d["limits"].update(max_key_ids_per_request=50_000), "limits.max_key_ids_per_request"),
    ],
)
def test_a_bad_configuration_names_the_field(tmp_path, change, field) -> None:
    site = make_site(tmp_path)
    _edit(site.config_paths["kme-a"], change)
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        load_config(site.config_paths["kme-a"])


def test_pki_init_and_kms_check_commands(tmp_path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["pki", "init", str(tmp_path / "p"), "--kme", "k1", "--sae", "s1", "--json"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "p" / "s1.key").stat().st_mode & 0o777 == 0o600
    again = runner.invoke(app, ["pki", "init", str(tmp_path / "p"), "--kme", "k1"])
    assert again.exit_code != 0
    site = make_site(tmp_path / "site")
    checked = runner.invoke(app, ["kms", "check", "--config", str(site.config_paths["kme-b"]), "--json"])
    assert checked.exit_code == 0, checked.output
    assert '"kme_id":"kme-b"' in checked.output
    assert runner.invoke(app, ["kms", "masterkey", str(tmp_path / "m.key")]).exit_code == 0
    assert (tmp_path / "m.key").stat().st_size == 32


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["tls"].update(private_key="pki/kme-b.key"), "cannot load TLS files"),
        (lambda d: d["peers"][0].update(certificate="pki/missing.pem"), "cannot read certificate"),
        (lambda d: d["store"].update(sqlite="no-such-folder/keys.sqlite"), "does not exist"),
        (
            lambda d: d.update(store={"postgres": "host=127.0.0.1 port=1 dbname=test connect_timeout=2"}),
            "store",
        ),
    ],
    ids=["key-of-another-certificate", "missing-peer-certificate", "no-store-folder", "unreachable-postgres"],
)
def test_check_refuses_what_serve_would(tmp_path, change, expected) -> None:
    site = make_site(tmp_path)
    _edit(site.config_paths["kme-a"], change)
    result = CliRunner().invoke(app, ["kms", "check", "--config", str(site.config_paths["kme-a"])])
    assert result.exit_code != 0
    assert expected in str(result.exception) + result.output


def test_check_opens_the_store_of_a_sound_configuration(tmp_path) -> None:
    site = make_site(tmp_path)
    result = CliRunner().invoke(app, ["kms", "check", "--config", str(site.config_paths["kme-a"]), "--json"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "kme-a.sqlite").exists()
