"""The planner: a digital twin of a scenario run over days, least-cost design by MILP, sweeps, reports.

:func:`~openqci.planner.twin.run_twin` steps a scenario through time (key made by every link from physics
and satellite passes, key consumed by the demands along key-aware routes); :mod:`~openqci.planner.metrics`
turns the run into figures, :mod:`~openqci.planner.report` into an offline HTML page,
:mod:`~openqci.planner.optimize` chooses what to build and :mod:`~openqci.planner.sweep` runs variants on
Dask. Only the scenario, physics, space and qin layers are used: the planner never starts a network.
"""

from __future__ import annotations

__all__: list[str] = []
