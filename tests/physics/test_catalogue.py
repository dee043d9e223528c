"""The catalogue of protocols with their own device records, as the CLI reaches them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from openqci.cli import main
from openqci.physics.catalogue import CATALOGUE, catalogue_plob, catalogue_rate, catalogue_reach_km
from openqci.physics.errors import UnknownPresetError

# (protocol, preset, distance in km, where the publication reports a positive key)
PUBLISHED = [
    ("tf-qkd", "liu2023", 1002.0),  # Liu et al., PRL 130, 210801 (2023)
    ("mdi-qkd", "yin2016", 404.0),  # Yin et al., PRL 117, 190501 (2016)
    ("cv-qkd", "zhang2020", 202.81),  # Zhang et al., PRL 125, 010502 (2020)
    ("cow", "walenta2014", 25.0),  # Walenta et al., NJP 16, 013047 (2014)
]


@pytest.mark.parametrize(("protocol", "preset", "km"), PUBLISHED)
def test_each_protocol_makes_key_where_its_publication_did(protocol: str, preset: str, km: float) -> None:
    result = catalogue_rate(protocol, preset, km)
    assert result.secret_key_rate_per_pulse[0] > 0
    assert result.secret_key_rate_bps[0] == pytest.approx(
        result.secret_key_rate_per_pulse[0] * result.repetition_rate_hz
    )
    assert catalogue_reach_km(protocol, preset) > km


@pytest.mark.parametrize("protocol", sorted(CATALOGUE))
def test_only_twin_field_passes_the_repeaterless_bound(protocol: str) -> None:
    distances = np.arange(0.0, 501.0, 5.0)
    rate = catalogue_rate(protocol, None, distances).secret_key_rate_per_pulse
    bound = catalogue_plob(protocol, None, distances).secret_key_rate_per_pulse
    if protocol == "tf-qkd":
        assert np.any(rate > bound)
        loss = catalogue_plob(protocol, None, distances).channel_loss_db
        assert np.all(rate <= catalogue_plob_sqrt(loss))
    else:
        assert np.all(rate <= bound)


def catalogue_plob_sqrt(loss_db: np.ndarray) -> np.ndarray:
    from openqci.physics.plob import plob_bound

    return plob_bound(10.0 ** (-loss_db / 20.0))


def test_an_unknown_preset_names_the_protocols_own() -> None:
    with pytest.raises(UnknownPresetError, match="choose one of: lucamarini2018, liu2023"):
        catalogue_rate("tf-qkd", "gys2004", 100.0)


def test_the_cli_prints_the_rate_as_json(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.setattr(
        "sys.argv", ["openqci", "keyrate", "--protocol", "cv-qkd", "--distance-km", "202.81", "--json"]
    )
    main()
    record = json.loads(capsys.readouterr().out)
    assert (record["protocol"], record["preset"]) == ("cv-qkd", "zhang2020")
    assert record["secret_key_rate_bps"] > 1.0
