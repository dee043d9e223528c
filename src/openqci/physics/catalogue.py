"""The protocols with models of their own device records: twin-field, MDI, CV-QKD and COW.

Decoy BB84, BBM92 and PLOB share one device record (:class:`~openqci.physics.devices.QkdSystem`) and one
entry point (:func:`~openqci.physics.keyrate.secret_key_rate`). The protocols here each describe their
devices differently (two senders and an untrusted middle node; a Gaussian-modulated laser and a homodyne
detector; a pulse train with a monitoring line), so each comes with its own presets and rate function, and
this catalogue gives them one face: :func:`catalogue_rate` returns the same
:class:`~openqci.physics.keyrate.KeyRateResult` as ``secret_key_rate`` (intensity, gain and QBER are not
reported: each model optimises or fixes them itself), which the CLI prints, plots and writes as JSON.

The models are asymptotic (CV-QKD also has a finite-size rate in :mod:`openqci.physics.cv_qkd`); where a
preset's device figures are taken from memory or assumed rather than read from the paper, its module says
so beside each figure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from openqci.physics.errors import UnknownPresetError
from openqci.physics.keyrate import KeyRateResult
from openqci.physics.plob import plob_bound

__all__ = [
    "CATALOGUE",
    "CatalogueEntry",
    "attacked_link_rate",
    "catalogue_entry",
    "catalogue_plob",
    "catalogue_rate",
    "catalogue_reach_km",
]

_REACH_LIMIT_KM = 2000.0


@dataclass(frozen=True)
class CatalogueEntry:
    """One protocol: its presets (the first is the default), its rate and its clock."""

    protocol: str
    description: str
    presets: Mapping[str, Any]
    rate_per_pulse: Callable[[Any, NDArray[np.float64]], NDArray[np.float64]]
    """Key bits per pulse (per symbol for CV-QKD), unclipped: negative or -inf where there is none."""
    pulses_per_second: Callable[[Any], float]
    attenuation_db_per_km: Callable[[Any], float]
    qber: Callable[[Any, NDArray[np.float64]], NDArray[np.float64]] | None = None
    """Bit-error rate of the key windows at the optimal settings (None where the protocol has none)."""
    with_added_error: Callable[[Any, float], Any] | None = None
    """The preset with ``added`` more intrinsic error (an eavesdropper's share): None where the model
    has no such parameter."""
    untrusted_middle: bool = False
    """Whether the link runs through an untrusted node in the middle (which measures and holds no key)."""

    @property
    def default_preset(self) -> str:
        return next(iter(self.presets))


def _twin_field() -> CatalogueEntry:
    from openqci.physics import twin_field

    def qber(params: Any, distances: NDArray[np.float64]) -> NDArray[np.float64]:
        _, epsilon, mu = twin_field.twin_field_settings(params, distances)
        counts = twin_field.sns_counts(params, params.arm_efficiency(distances), epsilon, mu)
        total, errors = counts.sent_total + counts.idle_total, counts.sent_errors + counts.idle_errors
        if params.odd_parity_pairing:  # the bits that reach error correction are the paired ones
            _, _, total, errors = twin_field.pair_odd_parity(counts)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(total > 0, errors / total, 0.5)

    return CatalogueEntry(
        "tf-qkd",
        "twin-field (sending-or-not-sending, odd-parity pairing), untrusted middle node",
        {"lucamarini2018": twin_field.LUCAMARINI2018, "liu2023": twin_field.LIU2023},
        twin_field.twin_field_rate,
        lambda p: float(p.repetition_rate_hz),
        lambda p: float(p.fibre_attenuation_db_per_km),
        qber,
        lambda p, added: replace(p, phase_error=min(0.5, p.phase_error + added)),
        untrusted_middle=True,
    )


def _mdi() -> CatalogueEntry:
    from openqci.physics import mdi

    def qber(params: Any, distances: NDArray[np.float64]) -> NDArray[np.float64]:
        _, mu = mdi.mdi_settings(params, distances)
        eta = params.arm_efficiency(distances)
        return mdi.mdi_signal_statistics(params, eta, eta, mu, mu)[1]

    return CatalogueEntry(
        "mdi-qkd",
        "measurement-device-independent, decoy states, untrusted middle node",
        {"yin2016": mdi.YIN2016},
        mdi.mdi_rate,
        lambda p: float(p.repetition_rate_hz),
        lambda p: float(p.fibre_attenuation_db_per_km),
        qber,
        lambda p, added: replace(p, misalignment=min(0.5, p.misalignment + added)),
        untrusted_middle=True,
    )


def _cv_qkd() -> CatalogueEntry:
    from openqci.physics import cv_qkd

    return CatalogueEntry(
        "cv-qkd",
        "GG02, Gaussian modulation, reverse reconciliation, trusted detector noise",
        {"zhang2020": cv_qkd.ZHANG2020},
        cv_qkd.cv_qkd_rate,
        lambda p: float(p.symbol_rate_hz),
        lambda p: float(p.fibre_attenuation_db_per_km),
    )


def _cow() -> CatalogueEntry:
    from openqci.physics import cow

    return CatalogueEntry(
        "cow",
        "coherent one-way, collective beam-splitting attacks",
        {"walenta2014": cow.WALENTA2014, "korzh2014": cow.KORZH2014},
        cow.cow_rate,
        lambda p: float(p.pulse_rate_hz),
        lambda p: float(p.fibre_attenuation_db_per_km),
    )


CATALOGUE: dict[str, Callable[[], CatalogueEntry]] = {
    "tf-qkd": _twin_field,
    "mdi-qkd": _mdi,
    "cv-qkd": _cv_qkd,
    "cow": _cow,
}
"""Protocol name to its entry (built on first use: the modules load nothing until asked for)."""


def _entry_and_preset(protocol: str, preset: str | None) -> tuple[CatalogueEntry, str, Any]:
    entry = CATALOGUE[protocol]()
    name = preset or entry.default_preset
    if name not in entry.presets:
        raise UnknownPresetError(
            f"unknown preset {name!r} for --protocol {protocol}; choose one of: {', '.join(entry.presets)}"
        )
    return entry, name, entry.presets[name]


def catalogue_rate(protocol: str, preset: str | None, distance_km: ArrayLike) -> KeyRateResult:
    """Key per pulse and per second of ``protocol`` with ``preset`` (its default when None)."""
    entry, name, params = _entry_and_preset(protocol, preset)
    distances = np.atleast_1d(np.asarray(distance_km, dtype=np.float64))
    rate = np.nan_to_num(entry.rate_per_pulse(params, distances), nan=0.0, neginf=0.0)
    blank = np.full(distances.shape, np.nan)
    qber = blank if entry.qber is None else np.asarray(entry.qber(params, distances), dtype=np.float64)
    return KeyRateResult(
        protocol=protocol,
        preset=name,
        decoys=None,
        distance_km=distances,
        channel_loss_db=distances * entry.attenuation_db_per_km(params),
        mu=blank,
        gain=blank,
        qber=qber,
        secret_key_rate_per_pulse=np.maximum(rate, 0.0),
        repetition_rate_hz=entry.pulses_per_second(params),
    )


def catalogue_plob(protocol: str, preset: str | None, distance_km: ArrayLike) -> KeyRateResult:
    """The repeaterless bound over the fibre of ``protocol``'s preset, to draw beside its rate."""
    entry, name, params = _entry_and_preset(protocol, preset)
    distances = np.atleast_1d(np.asarray(distance_km, dtype=np.float64))
    loss_db = distances * entry.attenuation_db_per_km(params)
    blank = np.full(distances.shape, np.nan)
    return KeyRateResult(
        protocol="plob",
        preset=name,
        decoys=None,
        distance_km=distances,
        channel_loss_db=loss_db,
        mu=blank,
        gain=blank,
        qber=blank,
        secret_key_rate_per_pulse=plob_bound(10.0 ** (-loss_db / 10.0)),
        repetition_rate_hz=entry.pulses_per_second(params),
    )


def catalogue_reach_km(protocol: str, preset: str | None) -> float:
    """The distance where ``protocol``'s key ends (to 0.01 km), up to 2,000 km (``inf`` beyond)."""
    coarse = np.arange(0.0, _REACH_LIMIT_KM + 1.0, 1.0)
    positive = catalogue_rate(protocol, preset, coarse).secret_key_rate_per_pulse > 0
    if not positive[0]:
        return 0.0
    if positive.all():
        return float("inf")
    low = float(coarse[np.argmin(positive) - 1])
    high = low + 1.0
    for _ in range(7):
        middle = (low + high) / 2.0
        if catalogue_rate(protocol, preset, middle).secret_key_rate_per_pulse[0] > 0:
            low = middle
        else:
            high = middle
    return low


def catalogue_entry(protocol: str) -> CatalogueEntry:
    """The entry of ``protocol`` (a key of :data:`CATALOGUE`)."""
    return CATALOGUE[protocol]()


def attacked_link_rate(
    protocol: str, preset: str, length_km: float, intercept_resend: float
) -> tuple[float, float]:
    """Key rate (bit/s) and QBER of a link with an intercept-resend eavesdropper on a share of the pulses.

    As for BB84 links (:func:`openqci.network.link_simulator.link_physics`), the eavesdropper adds a
    quarter of her share to the errors; the rate is the model's with that much more intrinsic error. A
    protocol whose model has no error parameter makes no key under attack.
    """
    entry, _, params = _entry_and_preset(protocol, preset)
    baseline = catalogue_rate(protocol, preset, length_km)
    base_qber = float(np.nan_to_num(baseline.qber[0], nan=0.0))
    added = intercept_resend / 4.0
    if added == 0.0:
        return float(baseline.secret_key_rate_bps[0]), base_qber
    if entry.with_added_error is None:
        return 0.0, min(0.5, base_qber + added)
    attacked = entry.with_added_error(params, added)
    rate = np.maximum(np.nan_to_num(entry.rate_per_pulse(attacked, np.array([length_km])), neginf=0.0), 0.0)
    return float(rate[0]) * entry.pulses_per_second(params), min(0.5, base_qber + added)
