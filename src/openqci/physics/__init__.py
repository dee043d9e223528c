"""Quantum-layer models: channels, devices, published presets and secret-key-rate theory.

Pure functions and frozen records only: no bits, no random numbers, no I/O. Everything a user sees as a
key rate traces back to a function here and the paper its docstring cites.
"""

from __future__ import annotations

from openqci.physics.bbm92 import bbm92_rate, bbm92_statistics
from openqci.physics.channels import (
    Channel,
    FibreChannel,
    db_to_transmittance,
    fibre_loss_db,
    fibre_transmittance,
    transmittance_to_db,
)
from openqci.physics.decoy_bb84 import DecoyMethod, decoy_bb84_rate, single_photon_bounds
from openqci.physics.detection import DetectionStatistics, expected_detection, photon_number_yield
from openqci.physics.devices import Detector, QkdSystem, WeakCoherentSource
from openqci.physics.entropy import binary_entropy
from openqci.physics.errors import InvalidParameterError, PhysicsError, UnknownPresetError
from openqci.physics.finite_key import (
    DecoyCounts,
    FiniteKeyBound,
    FiniteKeyRate,
    finite_key_rate,
    lim2014_key_length,
)
from openqci.physics.keyrate import KeyRateResult, Protocol, max_distance_km, secret_key_rate
from openqci.physics.plob import plob_bound
from openqci.physics.presets import PRESETS, get_preset

__all__ = [
    "PRESETS",
    "Channel",
    "DecoyCounts",
    "DecoyMethod",
    "DetectionStatistics",
    "Detector",
    "FibreChannel",
    "FiniteKeyBound",
    "FiniteKeyRate",
    "InvalidParameterError",
    "KeyRateResult",
    "PhysicsError",
    "Protocol",
    "QkdSystem",
    "UnknownPresetError",
    "WeakCoherentSource",
    "bbm92_rate",
    "bbm92_statistics",
    "binary_entropy",
    "db_to_transmittance",
    "decoy_bb84_rate",
    "expected_detection",
    "fibre_loss_db",
    "fibre_transmittance",
    "finite_key_rate",
    "get_preset",
    "lim2014_key_length",
    "max_distance_km",
    "photon_number_yield",
    "plob_bound",
    "secret_key_rate",
    "single_photon_bounds",
    "transmittance_to_db",
]
