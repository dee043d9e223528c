"""A launched network with a twin-field link: key crosses the 300 km span; the middle node runs nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.network.test_launcher import launched, sae_client, wait_for
from tests.scenario.test_untrusted_middle import SCENARIO


@pytest.fixture(scope="module")
def tf_line(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("tf-line")
    (root / "tf.yaml").write_text(SCENARIO)
    yield from launched(root / "tf.yaml", root / "state")


def test_a_key_is_relayed_over_the_twin_field_span(tf_line: Path) -> None:
    state = json.loads((tf_line / "state.json").read_text())
    assert sorted(state["kme_urls"]) == ["east", "far", "west"]  # no KME at the untrusted node
    document = wait_for(
        tf_line,
        lambda s: all((link["available_key_bits"] or 0) >= 1024 for link in s["links"]),
        timeout_s=30,
    )
    tf = next(link for link in document["links"] if link["qkdl_id"] == "west-east")
    assert tf["qkdl_status"] == "up"
    assert 3000 < tf["expected_skr_bps"] < 4000  # SNS twin-field, Lucamarini 2018 devices, 300 km
    with sae_client(tf_line, "sae-west", "west") as master, sae_client(tf_line, "sae-far", "far") as slave:
        deadline = time.monotonic() + 20
        while True:
            answer = master.post("/api/v1/keys/sae-far/enc_keys", json={"number": 1, "size": 256})
            if answer.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert answer.status_code == 200, answer.text
        assert answer.json()["key_container_extension"]["qci_routes"]["far"] == ["west", "east", "far"]
        keys = answer.json()["keys"]
        got = slave.post("/api/v1/keys/sae-west/dec_keys", json={"key_IDs": [{"key_ID": keys[0]["key_ID"]}]})
        assert got.status_code == 200, got.text
        assert got.json()["keys"] == keys
