"""The rate-versus-distance figure: secret key per pulse on a log scale, with the PLOB bound beside it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from openqci.physics.keyrate import KeyRateResult

__all__ = ["plot_rate_versus_distance"]


def plot_rate_versus_distance(
    curves: Sequence[KeyRateResult], path: Path, *, bound: KeyRateResult | None = None, title: str = ""
) -> Path:
    """Draw each curve's key per pulse against distance, and the repeaterless bound dashed, to ``path``.

    Points with no key are left out of the log-scale curve rather than drawn at an arbitrary floor, so
    where a curve stops is where the protocol stops making key.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5), dpi=120)
    for curve in curves:
        positive = curve.secret_key_rate_per_pulse > 0
        axes.semilogy(
            curve.distance_km[positive], curve.secret_key_rate_per_pulse[positive], label=_label(curve)
        )
    if bound is not None:
        axes.semilogy(
            bound.distance_km,
            bound.secret_key_rate_per_pulse,
            "k--",
            label=f"PLOB bound ({bound.preset} fibre, bits per channel use)",
        )
    floor = min(
        (
            float(np.min(c.secret_key_rate_per_pulse[c.secret_key_rate_per_pulse > 0], initial=1.0))
            for c in curves
        ),
        default=1e-9,
    )
    axes.set_ylim(bottom=max(floor / 10.0, 1e-15))
    axes.set_xlabel("fibre distance (km)")
    axes.set_ylabel("secret key (bits per pulse)")
    axes.set_title(title or "Secret key rate versus distance")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize="small")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


def _label(curve: KeyRateResult) -> str:
    parts = [curve.preset, str(curve.protocol)]
    if curve.decoys is not None:
        parts.append(f"{curve.decoys} decoys")
    if curve.block_size is not None:
        parts.append(f"n={curve.block_size:.0e}")
    return ", ".join(parts)
