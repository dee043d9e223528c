"""Figures and tables rendered from model results; kept apart from the models, which do no I/O."""

from __future__ import annotations

from openqci.reports.rate_plot import plot_rate_versus_distance

__all__ = ["plot_rate_versus_distance"]
