"""The rate-versus-distance figure: secret key per pulse on a log scale, with the PLOB bound beside it.

The figure is a :class:`matplotlib.figure.Figure` made directly, without pyplot: no backend is chosen or
switched and no global figure is left open, so a notebook that calls this keeps its own inline backend
and shows the returned figure as it shows any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from openqci.physics.keyrate import KeyRateResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_rate_versus_distance"]


def plot_rate_versus_distance(
    curves: KeyRateResult | Sequence[KeyRateResult],
    path: str | Path | None = None,
    *,
    bound: KeyRateResult | None = None,
    title: str = "",
) -> Figure:
    """Draw each curve's key per pulse against distance, and the repeaterless bound dashed.

    Points with no key are left out of the log-scale curve rather than drawn at an arbitrary floor, so
    where a curve stops is where the protocol stops making key.

    Parameters
    ----------
    curves
        One result of :func:`openqci.physics.secret_key_rate` over a sweep of distances, or several.
    path
        When given, the figure is also written there (format from the suffix: .png, .pdf, .svg).
    bound
        A PLOB result over the same distances, drawn dashed in black.
    title
        The figure's title (a default one when empty).

    Returns
    -------
    matplotlib.figure.Figure
        The figure, not attached to pyplot: display it, save it again or change it as you like.
    """
    from matplotlib.figure import Figure

    drawn = [curves] if isinstance(curves, KeyRateResult) else list(curves)
    figure = Figure(figsize=(8, 5), dpi=120)
    axes = figure.subplots()
    for curve in drawn:
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
    axes.set_ylim(bottom=max(_floor(drawn) / 10.0, 1e-15))
    axes.set_xlabel("fibre distance (km)")
    axes.set_ylabel("secret key (bits per pulse)")
    axes.set_title(title or "Secret key rate versus distance")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize="small")
    figure.tight_layout()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path)
    return figure


def _floor(curves: Sequence[KeyRateResult]) -> float:
    """The smallest positive key per pulse of all curves (1e-9 when there is none)."""
    return min(
        (
            float(np.min(c.secret_key_rate_per_pulse[c.secret_key_rate_per_pulse > 0], initial=1.0))
            for c in curves
        ),
        default=1e-9,
    )


def _label(curve: KeyRateResult) -> str:
    parts = [curve.preset, str(curve.protocol)]
    if curve.decoys is not None:
        parts.append(f"{curve.decoys} decoys")
    if curve.block_size is not None:
        parts.append(f"n={curve.block_size:.0e}")
    return ", ".join(parts)
