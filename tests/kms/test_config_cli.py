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


def test_a_site_configuration_loads_with_paths_resolved(tmp_path) -> None:
    site = make_site(tmp_path)
    config = load_config(site.config_paths["kme-a"])
    assert config.kme_id == "kme-a"
    assert config.host == "127.0.0.1"
    assert config.tls.ca == tmp_path / "pki" / "ca.pem"
    assert config.peers[0].saes == ["sae-b1", "sae-b2", "sae-b3"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.pop("kme_id"), "kme_id"),
        (lambda d: d["limits"].update(key_size=100), "limits"),
        (lambda d: d.update(store={"sqlite": "a", "postgres": "b"}), "store"),
        (lambda d: d["peers"][0].update(url="ftp://x"), "peers.0.url"),
        (lambda d: d.update(colour="blue"), "colour"),
        (lambda d: d["saes"].append({"sae_id": "sae-b1", "certificate": "x.pem"}), "SAE ID appears twice"),
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
