"""A link's own devices in a scenario file: measured settings that replace a preset's values.

A fibre link names a preset (the published system nearest to its hardware) and may add ``device:``, the
settings measured on its own source and detectors: detector efficiency, dark counts, misalignment, the
intensities sent, and so on. Each one given replaces the preset's value; the others stay as published.
:meth:`DeviceSettings.apply` turns preset and settings into the
:class:`~openqci.physics.devices.QkdSystem` that key rates, the rate model and the link engine all read,
and :func:`link_system` adds a measured span loss. The same settings build a custom system in the Python
API (:func:`openqci.make_system`), so a file and a notebook describe a device with the same words.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from openqci.physics.devices import QkdSystem
from openqci.physics.errors import InvalidParameterError
from openqci.physics.presets import get_preset

__all__ = ["DEVICE_FIELDS", "DeviceSettings", "check_device", "link_system"]


class DeviceSettings(BaseModel):
    """Measured settings of a link's devices; each one given replaces the preset's value."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    repetition_rate_hz: float | None = Field(default=None, gt=0.0)
    """The source's clock: pulses sent per second."""
    intensities: tuple[float, ...] | None = Field(default=None, min_length=1, max_length=8)
    """Mean photon numbers from the signal down, e.g. [0.5, 0.1, 0.0] (signal, weak decoy, vacuum)."""
    probabilities: tuple[float, ...] | None = Field(default=None, min_length=1, max_length=8)
    """How often each intensity is sent (sums to 1; as many as intensities)."""
    wavelength_nm: float | None = Field(default=None, gt=0.0)
    """The source's wavelength."""
    detector_efficiency: float | None = Field(default=None, gt=0.0, le=1.0)
    """Detection efficiency of each single-photon detector."""
    dark_count_prob: float | None = Field(default=None, ge=0.0, le=1.0)
    """Dark-count probability per gate and per detector."""
    afterpulse_prob: float | None = Field(default=None, ge=0.0, le=1.0)
    """Probability that a click causes a spurious later click."""
    dead_time_s: float | None = Field(default=None, ge=0.0)
    """Detector dead time after a click."""
    misalignment: float | None = Field(default=None, ge=0.0, le=0.5)
    """Probability that a detected photon lands in the wrong detector (e_det)."""
    receiver_transmittance: float | None = Field(default=None, gt=0.0, le=1.0)
    """Transmittance of the receiver's optics before the detectors."""
    ec_efficiency: float | None = Field(default=None, ge=1.0, le=2.0)
    """Error-correction inefficiency f (1 is the Shannon limit)."""
    basis_prob_x: float | None = Field(default=None, gt=0.0, lt=1.0)
    """Probability of choosing the key basis (1/2 for standard BB84)."""
    fibre_attenuation_db_per_km: float | None = Field(default=None, gt=0.0, le=10.0)
    """Attenuation of the link's fibre (a link's measured loss_db overrides it)."""

    def apply(self, system: QkdSystem) -> QkdSystem:
        """``system`` with these settings in place of its own.

        Raises
        ------
        InvalidParameterError
            When the settings and the preset's remaining values do not make a valid system (for instance
            three intensities with the preset's two probabilities); the message names what to fix.
        """
        given = self.model_dump(exclude_none=True)
        if not given:
            return system
        source = replace(system.source, **_pick(given, _SOURCE))
        detector = replace(system.detector, **_pick(given, _DETECTOR))
        renamed = {"detector_efficiency": "efficiency"}
        detector = replace(detector, **{renamed[k]: v for k, v in _pick(given, renamed).items()})
        return replace(
            system,
            name=f"{system.name}+device",
            source=source,
            detector=detector,
            **_pick(given, _SYSTEM),
        )


_SOURCE = ("repetition_rate_hz", "intensities", "probabilities", "wavelength_nm")
_DETECTOR = ("dark_count_prob", "afterpulse_prob", "dead_time_s")
_SYSTEM = (
    "misalignment",
    "receiver_transmittance",
    "ec_efficiency",
    "basis_prob_x",
    "fibre_attenuation_db_per_km",
)
DEVICE_FIELDS = tuple(DeviceSettings.model_fields)
"""The names a ``device:`` mapping (or :func:`openqci.make_system`) accepts."""


def _pick(given: dict[str, Any], names: tuple[str, ...] | dict[str, str]) -> dict[str, Any]:
    return {name: given[name] for name in names if name in given}


def link_system(
    preset: str, device: DeviceSettings | None, *, length_km: float, loss_db: float | None
) -> QkdSystem:
    """The system a fibre link runs: its preset, its own device settings, and its measured span loss.

    Examples
    --------
    >>> system = link_system(
    ...     "gys2004", DeviceSettings(detector_efficiency=0.1), length_km=50.0, loss_db=12.0
    ... )
    >>> system.name, system.detector.efficiency, round(system.fibre_attenuation_db_per_km, 3)
    ('gys2004+device', 0.1, 0.24)
    """
    system = get_preset(preset)
    if device is not None:
        system = device.apply(system)
    if loss_db is not None:
        system = system.with_span_loss(loss_db, length_km)
    return system


def check_device(preset: str, device: DeviceSettings) -> None:
    """Raise ``ValueError`` (for pydantic to report) when ``device`` cannot apply to ``preset``."""
    try:
        device.apply(get_preset(preset))
    except InvalidParameterError as error:
        raise ValueError(f"device: {error}") from None
