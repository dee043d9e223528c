"""The ``planning`` section of a scenario: what the planner needs beyond the network itself.

The launched network ignores it. It holds the weather (monthly cloud cover at each optical ground station),
scheduled link outages and a random failure model, the KME storage limits, the demands' service target, and
the candidates the optimiser may build (fibre links, trusted nodes and ground stations, each with a cost).
Entries follow the rules of the rest of the scenario: immutable, unknown fields refused, references checked
by :func:`planning_problems` together with the others.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from openqci.physics.presets import PRESETS
from openqci.scenario.problems import Location
from openqci.scenario.quantum import QuantumNode

if TYPE_CHECKING:
    from openqci.scenario.model import Scenario

__all__ = [
    "CandidateLink",
    "CandidateRepeater",
    "CandidateSite",
    "CloudClimatology",
    "EntanglementDemand",
    "LinkOutage",
    "Planning",
    "planning_problems",
]


def _known_preset(name: str) -> str:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of: {', '.join(sorted(PRESETS))}")
    return name


_Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)]
_Preset = Annotated[str, AfterValidator(_known_preset)]


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class CloudClimatology(_Entry):
    """Mean cloud cover at one ground station, month by month: a clouded pass makes no key."""

    station: _Name
    """A site with the ground-station role."""
    monthly_cloud_fraction: tuple[float, ...] = Field(min_length=12, max_length=12)
    """Twelve fractions in [0, 1], January first: the chance that a pass in that month is clouded out."""
    reference: str = ""
    """The public source of the figures."""

    @field_validator("monthly_cloud_fraction")
    @classmethod
    def _fractions(cls, values: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0.0 <= value <= 1.0 for value in values):
            raise ValueError("every monthly cloud fraction must be in [0, 1]")
        return values


class LinkOutage(_Entry):
    """A scheduled outage of one fibre link (works, a cut): no key is made; the key already in its stores is
    relayed over it only under ``routing.stored_key_over_down_links``."""

    link: _Name
    """The fibre link that is down."""
    start_hour: float = Field(ge=0.0)
    """Hours after the planning start."""
    duration_hours: float = Field(gt=0.0)
    """How long it stays down."""
    description: str = ""


class CandidateLink(_Entry):
    """A fibre link the optimiser may build, with its cost."""

    name: _Name
    site_a: _Name
    """One end (a site with the kme role)."""
    site_b: _Name
    """The other end (a site with the kme role)."""
    preset: _Preset
    """Device preset of openqci.physics."""
    length_km: float | None = Field(default=None, gt=0.0)
    """Fibre length; when absent, the great-circle distance times route_factor."""
    route_factor: float = Field(default=1.3, ge=1.0, le=5.0)
    """Fibre route length over great-circle distance, used only when length_km is absent."""
    cost: float = Field(ge=0.0)
    """Cost of building it (any currency unit, the same for every cost of the scenario)."""
    reference: str = ""


class CandidateSite(_Entry):
    """A trusted node or ground station that exists only if the optimiser builds it (at this cost)."""

    site: _Name
    """A site of the scenario; its links (and a ground station's satellite passes) need it built."""
    cost: float = Field(ge=0.0)
    """Cost of building and running it over the planning horizon."""


class CandidateRepeater(_Entry):
    """Quantum memories the optimiser may install at a site, making it a repeater of entanglement."""

    site: _Name
    """A site of the scenario without ``quantum`` of its own."""
    quantum: QuantumNode
    """The memories it would get."""
    cost: float = Field(ge=0.0)
    """Cost of installing and running them over the planning horizon."""


class EntanglementDemand(_Entry):
    """A need for entangled pairs between two sites' memories, met by a repeater chain over fibre."""

    name: _Name
    site_a: _Name
    """One end: a site with ``quantum`` or a candidate repeater (then built)."""
    site_b: _Name
    """The other end."""
    pair_rate_hz: float = Field(gt=0.0)
    """End-to-end pairs per second the chain must deliver (its mean rate)."""
    min_fidelity: float = Field(default=0.5, ge=0.25, le=1.0)
    """Mean fidelity the delivered pairs must reach (0.5: entangled at all for a Werner state)."""


class Planning(_Entry):
    """Inputs of the planner (``openqci plan``); the launched network does not read them."""

    start: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    """When the simulated period begins (UTC); it sets the satellites' positions and the month's weather."""
    kme_storage_bits: float = Field(default=1.0e9, gt=0.0)
    """Key a KME keeps for one link (both ends hold the same): beyond it new key is thrown away."""
    initial_key_fraction: float = Field(default=0.0, ge=0.0, le=1.0)
    """Share of kme_storage_bits in store at the start (0: every buffer starts empty)."""
    required_met_fraction: float = Field(default=0.99, gt=0.0, le=1.0)
    """A demand is satisfied when it gets all its key in at least this fraction of the time steps."""
    link_mtbf_hours: float | None = Field(default=None, gt=0.0)
    """Mean time between random failures of each fibre link (absent: only the scheduled outages)."""
    link_mttr_hours: float = Field(default=4.0, gt=0.0)
    """Mean time to repair a random failure."""
    capacity_margin: float = Field(default=0.1, ge=0.0, lt=1.0)
    """Share of each link's mean key rate the optimiser keeps in reserve."""
    climate: tuple[CloudClimatology, ...] = ()
    """Cloud cover per ground station; a station without an entry is always clear."""
    outages: tuple[LinkOutage, ...] = ()
    candidate_links: tuple[CandidateLink, ...] = ()
    """Fibre links the optimiser may add."""
    candidate_sites: tuple[CandidateSite, ...] = ()
    """Trusted nodes and ground stations the optimiser may leave out (the others always exist)."""
    candidate_repeaters: tuple[CandidateRepeater, ...] = ()
    """Sites where the optimiser may install quantum memories (entanglement repeaters)."""
    entanglement_demands: tuple[EntanglementDemand, ...] = ()
    """Pairs between quantum nodes that the optimiser's design must deliver (docs/planner.md)."""

    @field_validator("start")
    @classmethod
    def _aware(cls, start: datetime) -> datetime:
        if start.tzinfo is None:
            raise ValueError("give a time zone, e.g. 2026-01-01T00:00:00Z")
        return start


def planning_problems(scenario: Scenario) -> list[tuple[Location, str]]:
    """Every broken reference of the planning section (none when there is no section)."""
    if scenario.planning is None:
        return []
    return list(_problems(scenario, scenario.planning))


def _problems(scenario: Scenario, planning: Planning) -> Iterable[tuple[Location, str]]:
    sites = scenario.sites_by_name
    links = {link.name for link in scenario.links}
    seen: set[str] = set()
    for index, entry in enumerate(planning.climate):
        where: Location = ("planning", "climate", index, "station")
        if entry.station not in sites or not sites[entry.station].is_ground_station:
            yield where, f"{entry.station!r} is not a site with the ground-station role"
        elif entry.station in seen:
            yield where, "this station already has a climatology"
        seen.add(entry.station)
    for index, outage in enumerate(planning.outages):
        if outage.link not in links:
            yield ("planning", "outages", index, "link"), f"unknown link {outage.link!r}"
    kmes = {name for name, site in sites.items() if site.is_kme}
    yield from _two_ended(
        "candidate_links", planning.candidate_links, links, kmes, "is not a site with a KME"
    )
    for index, site in enumerate(planning.candidate_sites):
        if site.site not in sites:
            yield ("planning", "candidate_sites", index, "site"), f"unknown site {site.site!r}"
    yield from _quantum_problems(scenario, planning)


def _quantum_problems(scenario: Scenario, planning: Planning) -> Iterable[tuple[Location, str]]:
    sites = scenario.sites_by_name
    repeaters: set[str] = set()
    for index, candidate in enumerate(planning.candidate_repeaters):
        where: Location = ("planning", "candidate_repeaters", index, "site")
        if candidate.site not in sites:
            yield where, f"unknown site {candidate.site!r}"
        elif sites[candidate.site].quantum is not None:
            yield where, f"{candidate.site!r} already has quantum memories (quantum: of the site)"
        elif candidate.site in repeaters:
            yield where, "this site is already a candidate repeater"
        repeaters.add(candidate.site)
    quantum = repeaters | {name for name, site in sites.items() if site.quantum is not None}
    yield from _two_ended(
        "entanglement_demands",
        planning.entanglement_demands,
        set(),
        quantum,
        "has no quantum memories (quantum: of the site) and is no candidate repeater",
    )
    for index, demand in enumerate(planning.entanglement_demands):
        if demand.site_a == demand.site_b:
            yield ("planning", "entanglement_demands", index, "site_b"), "a demand joins two different sites"


def _two_ended(
    section: str,
    entries: Iterable[CandidateLink | EntanglementDemand],
    taken: set[str],
    valid_ends: set[str],
    invalid_end: str,
) -> Iterable[tuple[Location, str]]:
    """Names unique (and not among ``taken``), both ends (``site_a``, ``site_b``) among ``valid_ends``."""
    names = set(taken)
    for index, entry in enumerate(entries):
        if entry.name in names:
            yield ("planning", section, index, "name"), "name already used"
        names.add(entry.name)
        for field in ("site_a", "site_b"):
            name = getattr(entry, field)
            if name not in valid_ends:
                yield ("planning", section, index, field), f"{name!r} {invalid_end}"
