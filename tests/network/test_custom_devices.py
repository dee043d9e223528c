"""A link's own devices and measured span loss, written in a scenario, reach every rate the network makes.

The scenario's ``device:`` and ``loss_db:`` must change what ``network show`` expects, what the rate model
of a launched network hands its KMEs (through the plan written to the state directory), and the link
engine's settings; a device that does not fit its preset is refused with the link and field named.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from openqci.network.engine_source import EngineKeySource
from openqci.network.link_simulator import LinkPlan, conditions_at, link_physics, plan_link, plan_system
from openqci.network.supply import link_supply
from openqci.physics.keyrate import secret_key_rate
from openqci.physics.presets import get_preset
from openqci.scenario import Scenario, ScenarioError, load_scenario

SCENARIO = """\
name: measured
sites:
  - {name: paris, roles: [kme], latitude_deg: 48.85, longitude_deg: 2.35}
  - {name: orsay, roles: [kme], latitude_deg: 48.70, longitude_deg: 2.17}
  - {name: saclay, roles: [kme], latitude_deg: 48.71, longitude_deg: 2.16}
links:
  - name: paris-orsay
    site_a: paris
    site_b: orsay
    preset: lim2014
    length_km: 27
    loss_db: 7.9
    device:
      detector_efficiency: 0.25
      dark_count_prob: 1.0e-6
      misalignment: 0.01
      intensities: [0.45, 0.1, 0.0002]
      probabilities: [0.8, 0.1, 0.1]
  - {name: as-published, site_a: paris, site_b: saclay, preset: lim2014, length_km: 27}
"""


@pytest.fixture
def scenario(tmp_path: Path) -> Scenario:
    path = tmp_path / "measured.yaml"
    path.write_text(SCENARIO)
    return load_scenario(path)


def test_the_link_system_carries_the_device_and_the_loss(scenario: Scenario) -> None:
    measured, published = scenario.links
    system = scenario.link_system(measured)
    assert system.detector.efficiency == 0.25
    assert system.detector.dark_count_prob == 1e-6
    assert system.detector.afterpulse_prob == get_preset("lim2014").detector.afterpulse_prob
    assert system.source.intensities == (0.45, 0.1, 0.0002)
    assert system.fibre_attenuation_db_per_km * 27 == pytest.approx(7.9)
    assert scenario.link_system(published) == get_preset("lim2014")


def test_expected_supply_uses_them(scenario: Scenario) -> None:
    measured, published = (link_supply(scenario, link) for link in scenario.links)
    assert (measured.system, published.system) == ("lim2014+device", "lim2014")
    assert measured.loss_db == pytest.approx(7.9)
    assert published.loss_db == pytest.approx(5.4)
    expected = secret_key_rate(scenario.link_system(scenario.links[0]), 27.0).secret_key_rate_bps
    assert measured.expected_key_rate_bps == pytest.approx(float(expected))
    assert measured.expected_key_rate_bps > 1.1 * published.expected_key_rate_bps


def test_the_plan_written_to_the_state_directory_keeps_them(scenario: Scenario) -> None:
    made = plan_link(
        scenario, scenario.links[0], speedup=1.0, intake_cap_bps=1e9, tick_s=1.0, epoch_s=0.0, unit_bits=256
    )
    stored = LinkPlan(**json.loads(json.dumps(asdict(made))))
    assert plan_system(stored) == scenario.link_system(scenario.links[0])
    rate, _ = link_physics(plan_system(stored), "decoy-bb84", 27.0, 0.0)
    assert conditions_at(stored, [], 0).skr_bps == pytest.approx(rate)
    published = plan_link(
        scenario, scenario.links[1], speedup=1.0, intake_cap_bps=1e9, tick_s=1.0, epoch_s=0.0, unit_bits=256
    )
    assert conditions_at(published, [], 0).skr_bps < rate / 1.1
    assert (published.device, published.loss_db) == (None, None)


def test_the_link_engine_runs_the_measured_span(scenario: Scenario) -> None:
    def block_s(loss_db: float) -> float:
        plan = plan_link(
            scenario,
            scenario.links[0].model_copy(update={"loss_db": loss_db}),
            speedup=1.0,
            intake_cap_bps=1e9,
            tick_s=1.0,
            epoch_s=0.0,
            unit_bits=256,
        )
        return EngineKeySource(plan, rng=np.random.default_rng(1), start_s=0.0, block_bits=1 << 16).block_s

    # 10 dB more loss: ten times fewer detections, so a block of the same size takes about ten times longer
    assert block_s(17.9) / block_s(7.9) == pytest.approx(10.0, rel=0.35)


@pytest.mark.parametrize(
    ("device", "words"),
    [
        ("{intensities: [0.5, 0.1]}", "links[0] (ab): device: intensities and probabilities must be"),
        ("{detector_eff: 0.5}", "links[0] (ab): device.detector_eff"),
        ("{misalignment: 0.6}", "links[0] (ab): device.misalignment"),
    ],
)
def test_a_device_that_does_not_fit_is_refused_by_name(tmp_path: Path, device: str, words: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: bad\nsites:\n"
        "  - {name: a, roles: [kme], latitude_deg: 48, longitude_deg: 2}\n"
        "  - {name: b, roles: [kme], latitude_deg: 48, longitude_deg: 3}\n"
        f"links:\n  - {{name: ab, site_a: a, site_b: b, preset: gys2004, device: {device}}}\n"
    )
    with pytest.raises(ScenarioError) as raised:
        load_scenario(path)
    assert words in str(raised.value)


def test_network_show_reports_the_measured_link(tmp_path: Path) -> None:
    path = tmp_path / "measured.yaml"
    path.write_text(SCENARIO)
    done = subprocess.run(
        [sys.executable, "-m", "openqci", "network", "show", str(path), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    link = json.loads(done.stdout)["links"][0]
    assert (link["preset"], link["system"]) == ("lim2014", "lim2014+device")
    assert link["loss_db"] == pytest.approx(7.9)
    table = subprocess.run(
        [sys.executable, "-m", "openqci", "network", "show", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env=os.environ | {"COLUMNS": "80"},
    ).stdout
    assert "lim2014+device" in table
