"""A picture of one pass: elevation, link loss and detection rate against time, drawn with matplotlib (Agg).

Kept apart from the models so that the library needs a plotting backend only when a figure is asked for.
"""

from __future__ import annotations

from pathlib import Path

from openqci.space.pass_key import PassProfile

__all__ = ["plot_pass"]


def plot_pass(profile: PassProfile, path: Path, *, title: str = "") -> None:
    """Write a three-panel PNG of ``profile`` to ``path``: elevation (deg), loss (dB), detections (Hz)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    time_s = profile.track.time_s
    figure, axes = plt.subplots(3, 1, sharex=True, figsize=(7.0, 7.0))
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
    figure.savefig(path, dpi=100)
    plt.close(figure)
