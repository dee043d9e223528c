"""The privacy-amplification backend: chosen by measurement, stored per CPU target, forced by environment."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numba
import numpy as np
import pytest

from openqci.link import _carryless_toeplitz, _hash_backend
from openqci.link._hash_backend import ENVIRONMENT_VARIABLE, choose_backend, fastest, store_path
from openqci.link.errors import InvalidLinkParameterError
from openqci.link.privacy import ToeplitzFamily, default_backend, toeplitz_hash, toeplitz_seed

ALL = ("carryless-512", "carryless-256", "carryless-128", "fft")
# The figures of an AMD EPYC whose AVX-512 unit splits 512-bit instructions: the widest is not the fastest.
EPYC = {"carryless-512": 54e6, "carryless-256": 72e6, "carryless-128": 50e6, "fft": 25e6}


class CountingMeasure:
    """A measurement that returns fixed rates and counts its calls."""

    def __init__(self, rates: Mapping[str, float]) -> None:
        self.rates = dict(rates)
        self.calls = 0

    def __call__(self, names: Sequence[str]) -> dict[str, float]:
        self.calls += 1
        return {name: self.rates[name] for name in names}


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A fresh process as far as the choice goes: an empty cache directory, nothing kept, no override."""
    monkeypatch.setattr(numba.config, "CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(_hash_backend, "_records", {})
    monkeypatch.delenv(ENVIRONMENT_VARIABLE, raising=False)
    return tmp_path


@pytest.fixture
def every_width(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend the CPU runs every carry-less width (only fake measurements run under it)."""
    monkeypatch.setattr(_carryless_toeplitz, "VECTOR_WORDS", (8, 4, 2))


def _forget(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a new process knows: only the stored file."""
    monkeypatch.setattr(_hash_backend, "_records", {})


@pytest.mark.usefixtures("every_width")
def test_the_fastest_measured_candidate_is_chosen() -> None:
    measure = CountingMeasure(EPYC)
    choice = choose_backend(measure=measure)
    assert (choice.name, choice.backend, choice.vector_words) == ("carryless-256", "carryless", 4)
    assert choice.source == "measured"
    assert dict(choice.rates) == EPYC
    assert choose_backend(carryless=True, measure=measure).name == "carryless-256"
    assert measure.calls == 1


@pytest.mark.usefixtures("every_width")
def test_the_fft_wins_where_it_is_faster() -> None:
    measure = CountingMeasure({**EPYC, "fft": 80e6})
    assert choose_backend(measure=measure).name == "fft"
    assert choose_backend(measure=measure).vector_words is None
    assert choose_backend(carryless=True, measure=measure).name == "carryless-256"
    assert default_backend() == "fft"
    assert measure.calls == 1


def test_a_tie_goes_to_the_candidate_listed_first() -> None:
    assert fastest(dict.fromkeys(ALL, 1.0), ALL) == "carryless-512"
    assert fastest({"carryless-256": 2.0, "carryless-128": 2.0, "fft": 3.0}, ALL[1:3]) == "carryless-256"


@pytest.mark.usefixtures("every_width")
def test_the_choice_is_stored_and_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    measure = CountingMeasure(EPYC)
    choose_backend(measure=measure)
    choose_backend(measure=measure)
    assert measure.calls == 1
    record = json.loads(store_path().read_text())
    assert record["rates"] == EPYC
    assert record["chosen"] == "carryless-256"
    assert record["target"] == _hash_backend._target()
    assert [path.name for path in store_path().parent.iterdir()] == [store_path().name]  # no temp file left
    _forget(monkeypatch)
    again = choose_backend(measure=measure)
    assert (again.name, again.source, dict(again.rates)) == ("carryless-256", "stored", EPYC)
    assert measure.calls == 1


@pytest.mark.usefixtures("every_width")
def test_the_lazy_path_measures_once(monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator) -> None:
    measure = CountingMeasure({**EPYC, "carryless-128": 90e6})
    monkeypatch.setattr(_hash_backend, "measure_rates", measure)
    widths: list[int | None] = []

    def product(*args: object, vector_words: int | None = None) -> np.ndarray:
        widths.append(vector_words)
        return np.zeros(100, dtype=np.bool_)

    monkeypatch.setattr(_carryless_toeplitz, "toeplitz_product", product)
    key = rng.random(300) < 0.5
    seed = toeplitz_seed(key.size, 100, rng=rng)
    for _ in range(3):
        toeplitz_hash(key, seed, 100)
        toeplitz_hash(key, seed, 100, backend="carryless")
    assert measure.calls == 1
    assert widths == [2] * 6


@pytest.mark.usefixtures("every_width")
@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "[1, 2, 3]",
        json.dumps({"format": 1, "rates": EPYC, "chosen": "fft"}),  # no target
        "foreign target",
        "missing candidate",
        "negative rate",
        "other format",
    ],
)
def test_a_corrupt_or_foreign_file_is_measured_again(content: str, monkeypatch: pytest.MonkeyPatch) -> None:
    good = {"format": 1, "target": _hash_backend._target(), "rates": EPYC, "chosen": "carryless-256"}
    broken = {
        "foreign target": {**good, "target": {**good["target"], "features": ["sse2"]}},
        "missing candidate": {**good, "rates": {k: v for k, v in EPYC.items() if k != "fft"}},
        "negative rate": {**good, "rates": {**EPYC, "fft": -1.0}},
        "other format": {**good, "format": 99},
    }
    store_path().write_text(json.dumps(broken[content]) if content in broken else content)
    measure = CountingMeasure({**EPYC, "carryless-512": 100e6})
    choice = choose_backend(measure=measure)
    assert (choice.name, choice.source, measure.calls) == ("carryless-512", "measured", 1)
    assert json.loads(store_path().read_text())["chosen"] == "carryless-512"
    _forget(monkeypatch)
    assert choose_backend(measure=measure).source == "stored"
    assert measure.calls == 1


@pytest.mark.usefixtures("every_width")
def test_an_unwritable_cache_directory_costs_only_a_measurement(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setattr(numba.config, "CACHE_DIR", str(blocker / "cache"))
    measure = CountingMeasure(EPYC)
    assert choose_backend(measure=measure).name == "carryless-256"
    _forget(monkeypatch)
    assert choose_backend(measure=measure).name == "carryless-256"
    assert measure.calls == 2


@pytest.mark.usefixtures("every_width")
def test_the_environment_forces_a_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    measure = CountingMeasure(EPYC)
    for name in ALL:
        monkeypatch.setenv(ENVIRONMENT_VARIABLE, name)
        choice = choose_backend(measure=measure)
        assert (choice.name, choice.source) == (name, "environment")
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, " Carryless-128 ")
    assert choose_backend(measure=measure).name == "carryless-128"
    assert measure.calls == 0
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "carryless")  # the fastest width: measured
    assert choose_backend(measure=CountingMeasure({**EPYC, "fft": 1e9})).name == "carryless-256"
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "fft")  # an explicit carryless call still gets a width
    assert choose_backend(carryless=True, measure=measure).name == "carryless-256"
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "auto")
    assert choose_backend(measure=measure).name == "fft"  # the figures measured above are kept
    assert measure.calls == 0


@pytest.mark.usefixtures("store")
@pytest.mark.parametrize("value", ["avx512", "carryless-64", "cupy", "gpu"])
def test_a_bad_value_is_refused_naming_the_allowed_ones(
    value: str, monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator
) -> None:
    monkeypatch.setattr(_carryless_toeplitz, "VECTOR_WORDS", (4, 2))
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, value)
    allowed = "auto, carryless, carryless-256, carryless-128, fft"
    message = rf"{ENVIRONMENT_VARIABLE}='{value}'.*allowed: {allowed}$"
    with pytest.raises(InvalidLinkParameterError, match=message):
        choose_backend()
    key = rng.random(200) < 0.5
    with pytest.raises(InvalidLinkParameterError, match=allowed):
        toeplitz_hash(key, toeplitz_seed(key.size, 50, rng=rng), 50)


@pytest.mark.usefixtures("store")
def test_a_width_this_cpu_lacks_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_carryless_toeplitz, "VECTOR_WORDS", (4, 2))
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "carryless-512")
    with pytest.raises(InvalidLinkParameterError, match="allowed: auto, carryless, carryless-256"):
        choose_backend()
    monkeypatch.setattr(_carryless_toeplitz, "VECTOR_WORDS", ())
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "carryless")
    with pytest.raises(InvalidLinkParameterError, match=r"allowed: auto, fft$"):
        choose_backend()
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "fft")
    assert choose_backend().source == "environment"
    monkeypatch.delenv(ENVIRONMENT_VARIABLE)
    assert choose_backend().name == "fft"  # the only candidate: nothing to measure


@pytest.mark.usefixtures("store")
def test_every_candidate_gives_the_same_hash(
    monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator
) -> None:
    key = rng.random(40_000) < 0.5
    names = _hash_backend.candidates()
    for family in ToeplitzFamily:
        seed = toeplitz_seed(key.size, 15_000, rng=rng, family=family)
        hashes = []
        for name in names:
            monkeypatch.setenv(ENVIRONMENT_VARIABLE, name)
            hashes.append(toeplitz_hash(key, seed, 15_000, family=family))
        expected = toeplitz_hash(key, seed, 15_000, family=family, backend="fft")
        assert all(np.array_equal(expected, other) for other in hashes)


@pytest.mark.skipif(not _carryless_toeplitz.AVAILABLE, reason="one candidate only: nothing to measure")
@pytest.mark.usefixtures("store")
def test_the_real_measurement_times_every_candidate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_hash_backend, "MEASURE_BITS", 1 << 14)
    monkeypatch.setattr(_hash_backend, "REPEATS", 1)
    choice = choose_backend()
    assert choice.source == "measured"
    assert set(choice.rates) == set(_hash_backend.candidates())
    assert all(rate > 0 for rate in choice.rates.values())
    assert json.loads(store_path().read_text())["measured_bits"] == 1 << 14
