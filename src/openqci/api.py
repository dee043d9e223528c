"""The Python API for notebooks and scripts: key rates, reach, a link that makes key, scenarios, figures.

Every name here is also an attribute of the package (``openqci.secret_key_rate``), loaded on first use so
that ``import openqci`` stays instant and pulls in neither scipy nor the link engine. Where the command
line takes a preset's name, these functions take a name or a system of one's own
(:func:`make_system`, or a :class:`~openqci.physics.devices.QkdSystem` built by hand), and options that
the command line spells as words (``"bbm92"``, ``"vacuum-weak"``) are accepted as those words.

Examples
--------
A rate, a reach, a custom device and a measured span, in a few lines:

>>> import openqci
>>> rate = openqci.secret_key_rate("gys2004", [25.0, 50.0])
>>> [round(float(r)) for r in rate.secret_key_rate_bps]
[1509, 445]
>>> round(openqci.max_distance_km("gys2004"), 1)
142.2
>>> better = openqci.make_system("gys2004", detector_efficiency=0.2, dark_count_prob=1e-7)
>>> round(float(openqci.secret_key_rate(better, 50.0).secret_key_rate_bps))
2011
>>> measured = openqci.get_preset("gys2004").with_span_loss(12.0, 50.0)
>>> float(openqci.secret_key_rate(measured, 50.0).channel_loss_db)
12.0
>>> openqci.preset_names()
['gys2004', 'lim2014', 'micius2017', 'yuan2018']

A scenario and the key each of its links is expected to make:

>>> from pathlib import Path
>>> scenario = openqci.load_scenario(Path(openqci.__file__).parents[2] / "scenarios" / "line5.yaml")
>>> supply = openqci.expected_supply(scenario)
>>> len(supply) == len(scenario.links), all(link.expected_key_rate_bps > 0 for link in supply)
(True, True)

The figure comes back as a :class:`matplotlib.figure.Figure`; no backend is touched:

>>> import numpy as np
>>> sweep = np.linspace(0.0, 200.0, 201)
>>> figure = openqci.plot_rate_versus_distance(
...     [openqci.secret_key_rate("gys2004", sweep)],
...     bound=openqci.secret_key_rate("gys2004", sweep, protocol="plob"),
... )
>>> type(figure).__name__
'Figure'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from numpy.typing import ArrayLike

from openqci.physics.decoy_bb84 import DecoyMethod
from openqci.physics.devices import QkdSystem
from openqci.physics.errors import InvalidParameterError
from openqci.physics.keyrate import KeyRateResult
from openqci.physics.keyrate import max_distance_km as _max_distance_km
from openqci.physics.keyrate import secret_key_rate as _secret_key_rate
from openqci.physics.presets import PRESETS, get_preset
from openqci.physics.protocols import Protocol

if TYPE_CHECKING:
    from openqci.link.run import LinkRunReport

_Choice = TypeVar("_Choice", Protocol, DecoyMethod)

__all__ = [
    "make_system",
    "max_distance_km",
    "preset_names",
    "run_link",
    "secret_key_rate",
]


def secret_key_rate(
    system: str | QkdSystem,
    distance_km: ArrayLike,
    *,
    protocol: str | Protocol = Protocol.DECOY_BB84,
    mu: float | None = None,
    decoys: str | DecoyMethod = DecoyMethod.INFINITE,
    block_size: float | None = None,
    epsilon: float = 1e-10,
) -> KeyRateResult:
    """Secret key rate of a system over fibre, at one distance or an array of them.

    Parameters
    ----------
    system
        A preset's name (:func:`preset_names`) or a system of one's own (:func:`make_system`).
    distance_km
        Fibre length(s) in km, >= 0; the result's arrays have this shape.
    protocol
        ``"decoy-bb84"`` (default), ``"bbm92"`` or ``"plob"`` (the repeaterless bound).
    mu
        Signal intensity (BB84) or mean pair number (BBM92); optimised per distance when left out.
    decoys
        ``"infinite"`` (default) or ``"vacuum-weak"``: the asymptotic decoy analysis of decoy BB84.
    block_size
        When given, the finite-key rate (Lim et al. 2014) for blocks of this many key-basis detections.
    epsilon
        Secrecy parameter of the finite-key analysis, in (0, 1).

    Returns
    -------
    KeyRateResult
        Rates per pulse (``secret_key_rate_per_pulse``) and per second (``secret_key_rate_bps``), loss,
        gain, QBER and the intensity used, per distance; ``records()`` gives one dict per distance.

    Examples
    --------
    >>> result = secret_key_rate("lim2014", 100.0, block_size=1e10)
    >>> round(float(result.secret_key_rate_bps))
    97949
    >>> secret_key_rate("lim2014", 100.0, protocol="e91")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    openqci.physics.errors.InvalidParameterError: unknown protocol 'e91'; choose one of: decoy-bb84, ...
    """
    return _secret_key_rate(
        _system(system),
        distance_km,
        protocol=_choice(Protocol, protocol, "protocol"),
        mu=mu,
        decoys=_choice(DecoyMethod, decoys, "decoys"),
        block_size=block_size,
        epsilon=epsilon,
    )


def max_distance_km(
    system: str | QkdSystem,
    *,
    protocol: str | Protocol = Protocol.DECOY_BB84,
    mu: float | None = None,
    decoys: str | DecoyMethod = DecoyMethod.INFINITE,
    block_size: float | None = None,
    epsilon: float = 1e-10,
) -> float:
    """Fibre length (km) at which the key rate reaches zero (to 0.01 km); options of :func:`secret_key_rate`.

    Examples
    --------
    >>> round(max_distance_km("gys2004", decoys="vacuum-weak"), 1)
    139.8
    """
    return _max_distance_km(
        _system(system),
        protocol=_choice(Protocol, protocol, "protocol"),
        mu=mu,
        decoys=_choice(DecoyMethod, decoys, "decoys"),
        block_size=block_size,
        epsilon=epsilon,
    )


def preset_names() -> list[str]:
    """The names of the device presets, sorted (``get_preset(name)`` gives one, with its ``reference``).

    Examples
    --------
    >>> "lim2014" in preset_names()
    True
    """
    return sorted(PRESETS)


def make_system(preset: str, **settings: Any) -> QkdSystem:
    """A preset with some of its settings replaced by one's own measured values.

    The settings are those of a scenario file's ``device:`` (docs/scenario.md): ``repetition_rate_hz``,
    ``intensities``, ``probabilities``, ``wavelength_nm``, ``detector_efficiency``, ``dark_count_prob``,
    ``afterpulse_prob``, ``dead_time_s``, ``misalignment``, ``receiver_transmittance``, ``ec_efficiency``,
    ``basis_prob_x``, ``fibre_attenuation_db_per_km``. For a span whose loss was measured, follow with
    ``.with_span_loss(loss_db, length_km)``.

    Raises
    ------
    InvalidParameterError
        For an unknown setting (the message lists the known ones) or a value out of range.

    Examples
    --------
    >>> system = make_system("lim2014", detector_efficiency=0.25, intensities=(0.45, 0.1, 2e-4))
    >>> system.name, system.detector.efficiency, system.source.intensities
    ('lim2014+device', 0.25, (0.45, 0.1, 0.0002))
    >>> make_system("lim2014", efficiency=0.25)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    openqci.physics.errors.InvalidParameterError: unknown device setting efficiency; choose from: ...
    """
    from pydantic import ValidationError

    from openqci.scenario.devices import DEVICE_FIELDS, DeviceSettings

    unknown = sorted(set(settings) - set(DEVICE_FIELDS))
    if unknown:
        raise InvalidParameterError(
            f"unknown device setting {', '.join(unknown)}; choose from: {', '.join(DEVICE_FIELDS)}"
        )
    try:
        device = DeviceSettings.model_validate(settings)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise InvalidParameterError(f"device settings: {problems}") from None
    return device.apply(get_preset(preset))


def run_link(
    system: str | QkdSystem = "lim2014",
    distance_km: float = 25.0,
    duration_s: float = 1.0,
    *,
    loss_db: float | None = None,
    reconciliation: str = "cascade",
    eve: str | None = None,
    block_bits: int = 1 << 20,
    rng: np.random.Generator | int | None = None,
) -> LinkRunReport:
    """Run a simulated fibre link for ``duration_s`` of transmission and post-process its key.

    Detections are sampled, sifted and estimated; errors are corrected (Cascade or LDPC), verified, and
    privacy-amplified under an authenticated classical channel, block by block, as ``openqci link run``
    does.

    Parameters
    ----------
    system
        A preset's name or a system of one's own (:func:`make_system`).
    distance_km, duration_s
        Fibre length in km, and simulated transmission time in s.
    loss_db
        The span's measured loss in dB, replacing the length times the fibre attenuation.
    reconciliation
        ``"cascade"`` or ``"ldpc"``.
    eve
        An eavesdropper: ``"intercept-resend:FRACTION"``, ``"pns"`` or ``"tamper"``.
    block_bits
        Sifted key-basis bits per block (at least 1024).
    rng
        A generator, or a seed for one; a fresh unpredictable one when left out.

    Returns
    -------
    LinkRunReport
        Counts at every step, the final key, the QBER, the abort reasons; ``record()`` gives a dict.

    Examples
    --------
    >>> report = run_link("lim2014", 25.0, duration_s=0.05, block_bits=1 << 16, rng=1)
    >>> report.keys_identical, report.final_key_bits > 0, 0.01 < report.qber < 0.04
    (True, True, True)
    """
    from openqci.link.run import run_link as _run_link

    chosen = _system(system)
    if loss_db is not None:
        chosen = chosen.with_span_loss(loss_db, distance_km)
    return _run_link(
        preset=chosen,
        distance_km=distance_km,
        duration_s=duration_s,
        reconciliation=reconciliation,
        eve=eve,
        block_bits=block_bits,
        rng=rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng),
    )


def _system(system: str | QkdSystem) -> QkdSystem:
    if isinstance(system, QkdSystem):
        return system
    if isinstance(system, str):
        return get_preset(system)
    raise InvalidParameterError(
        f"give a preset's name or a QkdSystem (openqci.make_system), not {type(system).__name__}"
    )


def _choice(enum: type[_Choice], value: str | _Choice, option: str) -> _Choice:
    if isinstance(value, enum):
        return value
    try:
        return enum(value)
    except ValueError:
        valid = ", ".join(str(member.value) for member in enum)
        raise InvalidParameterError(f"unknown {option} {value!r}; choose one of: {valid}") from None
