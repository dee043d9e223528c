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

# Figures of an AMD EPYC (Zen 4) at 2^24 bits, Mbit/s: 512-bit instructions run as two halves, so the
# widest vector wins only with the smallest leaves, and loses to 256-bit ones at the former eight-vector
# leaves.
EPYC = {
    "carryless-512-leaf64": 47e6,
    "carryless-512-leaf32": 82e6,
    "carryless-512-leaf16": 116e6,
    "carryless-256-leaf32": 70e6,
    "carryless-256-leaf16": 81e6,
    "carryless-256-leaf8": 76e6,
    "carryless-128-leaf16": 49e6,
    "carryless-128-leaf8": 52e6,
    "carryless-128-leaf4": 42e6,
    "fft": 25e6,
}
ALL = tuple(EPYC)


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
def test_the_candidates_are_every_width_and_leaf_then_the_fft() -> None:
    assert _hash_backend.candidates() == ALL
    choice = _hash_backend.BackendChoice("carryless-256-leaf8")
    assert (choice.backend, choice.width, choice.vector_words, choice.leaf_vectors) == (
        "carryless",
        "carryless-256",
        4,
        2,
    )
    fft = _hash_backend.BackendChoice("fft")
    assert (fft.backend, fft.width, fft.vector_words, fft.leaf_vectors) == ("fft", "fft", None, None)


@pytest.mark.usefixtures("every_width")
def test_the_fastest_measured_candidate_is_chosen() -> None:
    measure = CountingMeasure(EPYC)
    choice = choose_backend(measure=measure)
    assert (choice.name, choice.vector_words, choice.leaf_vectors) == ("carryless-512-leaf16", 8, 2)
    assert choice.source == "measured"
    assert dict(choice.rates) == EPYC
    assert choose_backend(carryless=True, measure=measure).name == "carryless-512-leaf16"
    assert measure.calls == 1


@pytest.mark.usefixtures("every_width")
def test_the_widest_loses_where_it_is_slower() -> None:
    # The same CPU with the former leaves only: 512-bit 54 Mbit/s, 256-bit 72.
    slow_wide = {name: (54e6 if name.startswith("carryless-512") else rate) for name, rate in EPYC.items()}
    slow_wide["carryless-256-leaf32"] = 72e6
    assert choose_backend(measure=CountingMeasure(slow_wide)).name == "carryless-256-leaf16"


@pytest.mark.usefixtures("every_width")
def test_the_fft_wins_where_it_is_faster() -> None:
    measure = CountingMeasure({**EPYC, "fft": 200e6})
    assert choose_backend(measure=measure).name == "fft"
    assert choose_backend(measure=measure).vector_words is None
    assert choose_backend(carryless=True, measure=measure).name == "carryless-512-leaf16"
    assert default_backend() == "fft"
    assert measure.calls == 1


def test_a_tie_goes_to_the_candidate_listed_first() -> None:
    assert fastest(dict.fromkeys(ALL, 1.0), ALL) == "carryless-512-leaf64"
    assert fastest({"a": 2.0, "b": 2.0, "c": 3.0}, ("a", "b")) == "a"
    assert fastest({"a": 2.0, "b": 2.0, "c": 3.0}, ("b", "a")) == "b"


@pytest.mark.usefixtures("every_width")
def test_the_choice_is_stored_and_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    measure = CountingMeasure(EPYC)
    choose_backend(measure=measure)
    choose_backend(measure=measure)
    assert measure.calls == 1
    record = json.loads(store_path().read_text())
    assert record["rates"] == EPYC
    assert record["chosen"] == "carryless-512-leaf16"
    assert record["target"] == _hash_backend._target()
    assert [path.name for path in store_path().parent.iterdir()] == [store_path().name]  # no temp file left
    _forget(monkeypatch)
    again = choose_backend(measure=measure)
    assert (again.name, again.source, dict(again.rates)) == ("carryless-512-leaf16", "stored", EPYC)
    assert measure.calls == 1


@pytest.mark.usefixtures("every_width")
def test_the_lazy_path_measures_once(monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator) -> None:
    measure = CountingMeasure({**EPYC, "carryless-128-leaf8": 900e6})
    monkeypatch.setattr(_hash_backend, "measure_rates", measure)
    calls: list[tuple[int | None, int | None]] = []

    def product(
        *args: object, vector_words: int | None = None, leaf_vectors: int | None = None
    ) -> np.ndarray:
        calls.append((vector_words, leaf_vectors))
        return np.zeros(100, dtype=np.bool_)

    monkeypatch.setattr(_carryless_toeplitz, "toeplitz_product", product)
    key = rng.random(300) < 0.5
    seed = toeplitz_seed(key.size, 100, rng=rng)
    for _ in range(3):
        toeplitz_hash(key, seed, 100)
        toeplitz_hash(key, seed, 100, backend="carryless")
    assert measure.calls == 1
    assert calls == [(2, 4)] * 6


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
    good = {"format": 1, "target": _hash_backend._target(), "rates": EPYC, "chosen": "carryless-512-leaf16"}
    broken = {
        "foreign target": {**good, "target": {**good["target"], "features": ["sse2"]}},
        "missing candidate": {**good, "rates": {k: v for k, v in EPYC.items() if k != "fft"}},
        "negative rate": {**good, "rates": {**EPYC, "fft": -1.0}},
        "other format": {**good, "format": 99},
    }
    store_path().write_text(json.dumps(broken[content]) if content in broken else content)
    measure = CountingMeasure({**EPYC, "carryless-256-leaf8": 500e6})
    choice = choose_backend(measure=measure)
    assert (choice.name, choice.source, measure.calls) == ("carryless-256-leaf8", "measured", 1)
    assert json.loads(store_path().read_text())["chosen"] == "carryless-256-leaf8"
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
    assert choose_backend(measure=measure).name == "carryless-512-leaf16"
    _forget(monkeypatch)
    assert choose_backend(measure=measure).name == "carryless-512-leaf16"
    assert measure.calls == 2


@pytest.mark.usefixtures("every_width")
def test_the_environment_forces_a_candidate(monkeypatch: pytest.MonkeyPatch) -> None:
    measure = CountingMeasure(EPYC)
    for name in ALL:
        monkeypatch.setenv(ENVIRONMENT_VARIABLE, name)
        choice = choose_backend(measure=measure)
        assert (choice.name, choice.source) == (name, "environment")
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, " Carryless-128-Leaf8 ")
    assert choose_backend(measure=measure).name == "carryless-128-leaf8"
    assert measure.calls == 0
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "fft")  # an explicit carryless call still gets a width
    assert choose_backend(carryless=True, measure=measure).name == "carryless-512-leaf16"
    assert measure.calls == 1


@pytest.mark.usefixtures("every_width")
def test_the_environment_forces_a_width_or_the_carryless_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    measure = CountingMeasure({**EPYC, "fft": 1e9})
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "carryless-256")  # its fastest leaf, from the figures
    assert choose_backend(measure=measure).name == "carryless-256-leaf16"
    assert choose_backend(carryless=True, measure=measure).name == "carryless-256-leaf16"
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "carryless-128")
    assert choose_backend(measure=measure).name == "carryless-128-leaf8"
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "carryless")
    assert choose_backend(measure=measure).name == "carryless-512-leaf16"
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "auto")
    assert choose_backend(measure=measure).name == "fft"
    assert measure.calls == 1


@pytest.mark.usefixtures("store")
@pytest.mark.parametrize("value", ["avx512", "carryless-64", "carryless-512", "carryless-256-leaf64", "gpu"])
def test_a_bad_value_is_refused_naming_the_allowed_ones(
    value: str, monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator
) -> None:
    monkeypatch.setattr(_carryless_toeplitz, "VECTOR_WORDS", (4, 2))
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, value)
    allowed = (
        "allowed: auto, carryless, carryless-256, carryless-128, fft; or a width with its largest leaf in "
        "64-bit words: carryless-256-leaf32, carryless-256-leaf16, carryless-256-leaf8, "
        "carryless-128-leaf16, carryless-128-leaf8, carryless-128-leaf4$"
    )
    with pytest.raises(InvalidLinkParameterError, match=rf"{ENVIRONMENT_VARIABLE}='{value}'.*{allowed}"):
        choose_backend()
    key = rng.random(200) < 0.5
    with pytest.raises(InvalidLinkParameterError, match=allowed):
        toeplitz_hash(key, toeplitz_seed(key.size, 50, rng=rng), 50)


@pytest.mark.usefixtures("store")
def test_a_cpu_without_carryless_multiplication_allows_only_the_fft(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_carryless_toeplitz, "VECTOR_WORDS", ())
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "carryless")
    with pytest.raises(InvalidLinkParameterError, match=r"allowed: auto, fft$"):
        choose_backend()
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "fft")
    assert choose_backend().source == "environment"
    monkeypatch.delenv(ENVIRONMENT_VARIABLE)
    assert choose_backend().name == "fft"  # the only candidate: nothing to measure
    assert choose_backend().source == "only candidate"
    with pytest.raises(InvalidLinkParameterError, match="PCLMULQDQ"):
        choose_backend(carryless=True)


@pytest.mark.usefixtures("store")
def test_every_candidate_gives_the_same_hash(
    monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator
) -> None:
    key = rng.random(40_000) < 0.5
    for family in ToeplitzFamily:
        seed = toeplitz_seed(key.size, 15_000, rng=rng, family=family)
        expected = toeplitz_hash(key, seed, 15_000, family=family, backend="fft")
        for name in _hash_backend.candidates():
            monkeypatch.setenv(ENVIRONMENT_VARIABLE, name)
            assert np.array_equal(toeplitz_hash(key, seed, 15_000, family=family), expected), name


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
