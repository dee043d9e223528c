"""Published entanglement-distribution experiments, as parameters of :mod:`openqci.qin` models.

Each value is marked as the paper quotes it [Q], or assumed where the paper is silent [A].
"""

from __future__ import annotations

from openqci.physics.devices import Detector, QkdSystem, WeakCoherentSource
from openqci.qin.elementary import DualDownlink

__all__ = ["MICIUS_DUAL_DOWNLINK", "MICIUS_DUAL_DOWNLINK_LOSS_DB"]

_MICIUS_STATION = QkdSystem(
    name="micius-entanglement-station",
    # The source fields are not used by a dual downlink (its pairs come from DualDownlink); they only make
    # the record complete.
    source=WeakCoherentSource(repetition_rate_hz=4e8, intensities=(0.015,), probabilities=(1.0,)),
    # Background per detector and 2.5 ns window: dark counts and night sky of a few hundred counts per
    # second [A]; the detector efficiency is inside the downlink losses below.
    detector=Detector(efficiency=1.0, dark_count_prob=1e-6),
    # Source and polarisation-compensation imperfection [A], chosen within the paper's reported state
    # fidelity of 0.87 +/- 0.09 [Q].
    misalignment=0.05,
    reference="Yin et al., Science 356, 1140 (2017), arXiv 1707.01339",
)

MICIUS_DUAL_DOWNLINK = DualDownlink(
    source_pair_rate_hz=5.9e6,  # [Q] pairs per second out of the on-board source
    coincidence_window_s=2.5e-9,  # [A]
    station=_MICIUS_STATION,
)
"""Micius's entangled-pair source over Delingha and Lijiang, 1,203 km apart (Yin et al. 2017)."""

MICIUS_DUAL_DOWNLINK_LOSS_DB = (64.0, 82.0)
"""[Q] The two downlinks' summed loss over the passes, from the shortest to the longest summed range."""
