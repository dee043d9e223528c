"""A picture of one pass: elevation, link loss and detection rate against time, drawn with matplotlib.

Kept apart from the models so that the library needs matplotlib only when a figure is asked for. The
figure is made without pyplot, so no backend is chosen or switched for the caller.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from openqci.space.pass_key import PassProfile

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_pass"]


def plot_pass(profile: PassProfile, path: str | Path | None = None, *, title: str = "") -> Figure:
    """Three panels of ``profile``: elevation (deg), loss (dB), detections (Hz); also written to ``path``."""
    from matplotlib.figure import Figure

    time_s = profile.track.time_s
    figure = Figure(figsize=(7.0, 7.0))
    axes = figure.subplots(3, 1, sharex=True)
    panels = (
        (profile.track.elevation_deg, "elevation (deg)"),
        (profile.loss_db, "link loss (dB)"),
        (profile.detection_rate_hz, "detection rate (Hz)"),
    )
    for axis, (values, label) in zip(axes, panels, strict=True):
        axis.plot(time_s, values)
        axis.set_ylabel(label)
        axis.grid(True, alpha=0.3)
    axes[-1].set_xlabel(f"time since {profile.track.start:%Y-%m-%d %H:%M:%S} UTC (s)")
    axes[0].set_title(title)
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, dpi=100)
    return figure
