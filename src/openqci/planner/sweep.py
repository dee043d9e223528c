"""Parameter sweeps of the twin on Dask: every combination of the values asked, one task per variant.

``--vary NAME=V1,V2,...`` names a parameter of :data:`PARAMETERS`; several ``--vary`` make the Cartesian
product. Each variant runs the twin (without the failure analysis, unless asked) in a Dask worker and
returns one row of figures; the rows come back as one table. By default a :class:`distributed.LocalCluster`
of worker processes bound to 127.0.0.1 (no dashboard) runs them; ``scheduler`` names an existing cluster
(``tcp://HOST:PORT``) instead, whose workers must have OpenQCI installed (the scenario travels with the
task, no file is read on the workers).
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from openqci.planner.errors import PlanError
from openqci.planner.topology import planning_of
from openqci.scenario import Scenario

__all__ = ["MAX_VARIANTS", "PARAMETERS", "Parameter", "parse_vary", "run_sweep", "run_variant", "variants"]

MAX_VARIANTS = 10_000
"""Most variants one sweep accepts (each is a twin run; the table is kept in memory)."""


@dataclass(frozen=True)
class Parameter:
    """A parameter a sweep may vary: where it goes, its type and its valid range."""

    name: str
    help: str
    integer: bool = False
    low: float = 0.0
    low_open: bool = True
    high: float = math.inf
    planning: bool = False
    """Whether it is a field of the scenario's planning section (else an argument of the run)."""


PARAMETERS: dict[str, Parameter] = {
    p.name: p
    for p in (
        Parameter("days", "simulated days", high=3650.0),
        Parameter("seed", "seed of weather and failure draws", integer=True, low_open=False),
        Parameter("step_s", "time step, seconds", high=86_400.0),
        Parameter("rate_scale", "factor on every link's key rate and pass key"),
        Parameter("cloud_scale", "factor on every cloud fraction", low_open=False),
        Parameter("demand_scale", "factor on every demand's rate"),
        Parameter("kme_storage_bits", "KME storage per link", planning=True),
        Parameter(
            "initial_key_fraction",
            "share of storage full at the start",
            low_open=False,
            high=1.0,
            planning=True,
        ),
        Parameter("link_mtbf_hours", "mean time between random fibre failures", planning=True),
        Parameter("link_mttr_hours", "mean time to repair", planning=True),
        Parameter("required_met_fraction", "service target", high=1.0, planning=True),
    )
}
_RUN_DEFAULTS: dict[str, float] = {
    "days": 1.0,
    "seed": 0,
    "step_s": 60.0,
    "rate_scale": 1.0,
    "cloud_scale": 1.0,
    "demand_scale": 1.0,
}


def parse_vary(texts: Sequence[str]) -> dict[str, list[float]]:
    """``["demand_scale=1,2", "seed=1,2,3"]`` as ``{"demand_scale": [1, 2], "seed": [1, 2, 3]}``.

    Raises
    ------
    PlanError
        If a text is not ``NAME=V1,V2,...``, names no parameter, repeats one, or a value is out of range.
    """
    result: dict[str, list[float]] = {}
    for text in texts:
        name, sep, values = text.partition("=")
        name = name.strip()
        if not sep or not values.strip():
            raise PlanError(f"--vary {text!r}: write NAME=V1,V2,... (for instance demand_scale=1,2,4)")
        parameter = PARAMETERS.get(name)
        if parameter is None:
            raise PlanError(
                f"--vary {text!r}: unknown parameter {name!r}; choose one of: {', '.join(PARAMETERS)}"
            )
        if name in result:
            raise PlanError(f"--vary {name} is given twice: list all its values in one --vary")
        result[name] = [_value(parameter, item.strip(), text) for item in values.split(",")]
    return result


def variants(vary: dict[str, list[float]]) -> list[dict[str, float]]:
    """Every combination of the values of ``vary``, in order (the last parameter varies fastest)."""
    names = list(vary)
    combos = [
        dict(zip(names, values, strict=True)) for values in itertools.product(*(vary[n] for n in names))
    ]
    if len(combos) > MAX_VARIANTS:
        raise PlanError(f"{len(combos)} variants exceed the limit of {MAX_VARIANTS}: vary fewer values")
    return combos


def run_variant(scenario: Scenario, values: dict[str, float], failures: bool = False) -> dict[str, Any]:
    """One variant: the twin with ``values`` applied; its figures as one row (the values first)."""
    from openqci.planner.metrics import twin_metrics
    from openqci.planner.twin import run_twin

    started = time.perf_counter()
    settings = {**_RUN_DEFAULTS, **{k: v for k, v in values.items() if not PARAMETERS[k].planning}}
    overrides = {k: v for k, v in values.items() if PARAMETERS[k].planning}
    if overrides:
        planning = planning_of(scenario).model_copy(update=overrides)
        scenario = scenario.model_copy(update={"planning": planning})
    result = run_twin(
        scenario,
        float(settings["days"]),
        seed=int(settings["seed"]),
        step_s=float(settings["step_s"]),
        failures=failures,
        rate_scale=float(settings["rate_scale"]),
        cloud_scale=float(settings["cloud_scale"]),
        demand_scale=float(settings["demand_scale"]),
    )
    metrics = twin_metrics(result)
    totals = metrics["totals"]
    met = [d["met_fraction"] for d in metrics["demands"]]
    worst = min(metrics["demands"], key=lambda d: d["met_fraction"])["name"] if met else ""
    row: dict[str, Any] = dict(values)
    row.update(
        {
            "demands": totals["demands"],
            "demands_satisfied": totals["demands_satisfied"],
            "min_met_fraction": totals["min_met_fraction"],
            "mean_met_fraction": sum(met) / len(met) if met else 1.0,
            "worst_demand": worst,
            "shortfall_bits": sum(d["shortfall_bits"] for d in metrics["demands"]),
            "key_produced_bits": totals["key_produced_bits"],
            "key_consumed_bits": totals["key_consumed_bits"],
            "key_wasted_bits": totals["key_wasted_bits"],
            "passes": totals["passes"],
            "clouded_passes": totals["clouded_passes"],
            "failing_nodes": sum(1 for f in metrics["failures"] if f["failed_demands"]),
            "wall_s": time.perf_counter() - started,
        }
    )
    return row


def run_sweep(
    scenario: Scenario,
    combos: list[dict[str, float]],
    *,
    scheduler: str | None = None,
    workers: int = 2,
    failures: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every variant on Dask and return the rows in the order of ``combos``.

    Raises
    ------
    PlanError
        If the scheduler cannot be reached, or a variant fails (its values and the error are named).
    """
    import importlib

    # distributed's API is only partly annotated: use it as an untyped module
    dask: Any = importlib.import_module("distributed")
    if workers < 1:
        raise PlanError(f"the number of workers must be at least 1, got {workers}")
    cluster = None
    try:
        if scheduler is None:
            cluster = dask.LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
            client = dask.Client(cluster)
        else:
            client = dask.Client(scheduler, timeout="10s")
    except (OSError, TimeoutError) as error:
        if cluster is not None:
            cluster.close()
        raise PlanError(
            f"cannot reach the Dask scheduler {scheduler or 'of the local cluster'}: {error}"
        ) from None
    try:
        shared = client.scatter(scenario, broadcast=True)
        futures = [client.submit(run_variant, shared, combo, failures, pure=False) for combo in combos]
        position = {future.key: index for index, future in enumerate(futures)}
        rows: list[dict[str, Any] | None] = [None] * len(futures)
        for done, future in enumerate(dask.as_completed(futures), start=1):
            index = position[future.key]
            try:
                rows[index] = future.result()
            except Exception as error:  # a worker's failure, reported with the variant that caused it
                raise PlanError(f"variant {combos[index]} failed: {error}") from None
            if progress is not None:
                progress(done, len(futures))
        return [row for row in rows if row is not None]
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _value(parameter: Parameter, text: str, whole: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise PlanError(f"--vary {whole!r}: {text!r} is not a number") from None
    if parameter.integer:
        if not value.is_integer():
            raise PlanError(f"--vary {whole!r}: {parameter.name} takes whole numbers, got {text!r}")
        value = int(value)
    below = value <= parameter.low if parameter.low_open else value < parameter.low
    if not math.isfinite(value) or below or value > parameter.high:
        bound = ">" if parameter.low_open else ">="
        raise PlanError(
            f"--vary {whole!r}: {parameter.name} ({parameter.help}) must be {bound} {parameter.low:g}"
            + (f" and <= {parameter.high:g}" if math.isfinite(parameter.high) else "")
            + f", got {text!r}"
        )
    return value
