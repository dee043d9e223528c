"""Links fed by QKD devices in a launched network: key files at each end, and ETSI GS QKD 014 devices.

A ``files`` link: the scenario names a folder per end; the device's files, written at both ends, become
the units both KMEs serve, and an SAE pair across the link gets identical keys. An ``etsi014`` link: the
launcher gives each KME's peer entry the device it takes key from (its own device, its SAE ID there, the
peer's SAE ID), in the format ``openqci kms serve`` reads.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest
import yaml

from openqci.keysource import KeyBlock
from openqci.kms.config import KmeConfig
from openqci.network.launcher import LaunchOptions, _kme_document
from openqci.network.statedir import StateDir
from openqci.scenario import ScenarioError, load_scenario
from openqci.services import SaeClient
from tests.kms.test_key_files import write_pair
from tests.network.test_launcher import launched, wait_for

SCENARIO = """
name: devices
description: Two KMEs whose link's key comes from QKD devices.
sites:
  - {name: kme-a, roles: [kme, user-site], latitude_deg: 48.0, longitude_deg: 2.0, reference: synthetic}
  - {name: kme-b, roles: [kme, user-site], latitude_deg: 48.0, longitude_deg: 2.2, reference: synthetic}
links:
  - name: a-b
    site_a: kme-a
    site_b: kme-b
    preset: yuan2018
    length_km: 20.0
    source: files
    devices: {kme-a: {folder: device-a}, kme-b: {folder: device-b}}
saes:
  - {name: sae-a, kme: kme-a}
  - {name: sae-b, kme: kme-b}
"""

ETSI014 = SCENARIO.replace(
    "source: files\n    devices: {kme-a: {folder: device-a}, kme-b: {folder: device-b}}",
    "source: etsi014\n    devices:\n"
    "      kme-a: {url: 'https://qkd-a.example:443', sae_id: kms-a, ca: dev/ca.pem,"
    " certificate: dev/a.pem, private_key: dev/a.key}\n"
    "      kme-b: {url: 'https://qkd-b.example:443', sae_id: kms-b, ca: dev/ca.pem,"
    " certificate: dev/b.pem, private_key: dev/b.key}",
)


def test_key_files_at_both_ends_are_served_to_an_sae_pair(tmp_path: Path) -> None:
    scenario = tmp_path / "devices.yaml"
    scenario.write_text(SCENARIO)
    state_dir = tmp_path / "state"
    blocks = [KeyBlock("a-b", uuid.uuid4(), os.urandom(1024), 8192, 0.02, 1e-10) for _ in range(4)]
    for _ in launched(scenario, state_dir):
        for folder in ("device-a", "device-b"):
            for block in blocks:
                write_pair(tmp_path / folder, block)
        wait_for(state_dir, lambda d: all(n >= 4 for n in d["links"][0]["blocks_by_end"].values()))
        assert sorted(os.listdir(tmp_path / "device-a")) == [".openqci-feed.lock"]  # stored, then removed
        urls = json.loads((state_dir / "state.json").read_text())["kme_urls"]
        with (
            SaeClient.from_pki(state_dir / "pki", "sae-a", urls["kme-a"]) as master,
            SaeClient.from_pki(state_dir / "pki", "sae-b", urls["kme-b"]) as slave,
        ):
            got = master.enc_keys("sae-b", number=8, size_bits=256)
            assert slave.dec_keys("sae-a", [k.key_id for k in got.keys]).keys == got.keys
        material = b"".join(block.bits for block in blocks)
        assert all(key.key in material for key in got.keys)  # the device's own key, cut into units


def test_an_etsi014_link_gives_each_kme_its_device(tmp_path: Path) -> None:
    scenario_path = tmp_path / "devices.yaml"
    scenario_path.write_text(ETSI014)
    scenario = load_scenario(scenario_path)
    ports = {"controller": 1, "kme-a": 2, "kme-b": 3}
    layout = StateDir(tmp_path / "state")
    document = _kme_document(
        layout, scenario, scenario_path, "kme-b", ports, "http://127.0.0.1:1", LaunchOptions()
    )
    source = document["peers"][0]["source"]
    assert source["url"] == "https://qkd-b.example:443"
    assert (source["sae_id"], source["peer_sae_id"]) == ("kms-b", "kms-a")
    assert source["certificate"] == str(tmp_path / "dev" / "b.pem")
    parsed = KmeConfig.model_validate(yaml.safe_load(yaml.safe_dump(document)))
    assert parsed.peers[0].source is not None


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("kme-b: {folder: device-b}", "", "needs devices for both ends"),
        ("source: files", "source: model", "devices apply to source files or etsi014"),
        ("source: files", "source: etsi014", "does not describe a device for source etsi014"),
    ],
)
def test_devices_and_source_must_agree(tmp_path: Path, old: str, new: str, expected: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(SCENARIO.replace(old, new).replace(", }", "}"))
    with pytest.raises(ScenarioError, match=expected):
        load_scenario(path)
