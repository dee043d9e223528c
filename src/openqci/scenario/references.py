"""The cross-reference checks of a scenario: names unique, and every name used points at the right entry.

They run after each entry has passed its own checks, as the last step of validating a
:class:`~openqci.scenario.model.Scenario`. Each problem comes with the location of the field at fault
(``("links", 3, "site_a")``) so the message can point into the file.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from openqci.scenario.problems import Location

if TYPE_CHECKING:
    from openqci.scenario.model import Scenario, Site

__all__ = ["reference_problems"]

_COLLECTIONS = ("sites", "links", "satellites", "saes", "demands")


def reference_problems(scenario: Scenario) -> list[tuple[Location, str]]:
    """Every broken reference and repeated name in ``scenario``, in file order."""
    problems = [*_repeated_names(scenario)]
    problems += _link_problems(scenario)
    problems += _sae_problems(scenario)
    problems += _demand_problems(scenario)
    problems += _satellite_problems(scenario)
    return problems


def _repeated_names(scenario: Scenario) -> Iterable[tuple[Location, str]]:
    for collection in _COLLECTIONS:
        first_index: dict[str, int] = {}
        for index, entry in enumerate(getattr(scenario, collection)):
            if entry.name in first_index:
                first = f"{collection}[{first_index[entry.name]}]"
                yield (collection, index, "name"), f"duplicate name; also used by {first}"
            first_index.setdefault(entry.name, index)


def _kme_site(sites: dict[str, Site], name: str) -> str | None:
    """What is wrong with ``name`` as a KME site, or None."""
    if name not in sites:
        return f"unknown site {name!r}"
    if not sites[name].is_kme:
        return f"site {name!r} has no 'kme' role"
    return None


def _untrusted_site(sites: dict[str, Site], name: str) -> str | None:
    """What is wrong with ``name`` as the untrusted middle node of a link, or None."""
    if name not in sites:
        return f"unknown site {name!r}"
    if "untrusted-node" not in sites[name].roles:  # SiteRole is a StrEnum: compares with its value
        return f"site {name!r} has no 'untrusted-node' role"
    return None


def _link_problems(scenario: Scenario) -> Iterable[tuple[Location, str]]:
    sites = scenario.sites_by_name
    pairs: dict[frozenset[str], str] = {}
    for index, link in enumerate(scenario.links):
        for field in ("site_a", "site_b"):
            problem = _kme_site(sites, getattr(link, field))
            if problem:
                yield ("links", index, field), problem
        if link.middle_site is not None:
            problem = _untrusted_site(sites, link.middle_site)
            if problem:
                yield ("links", index, "middle_site"), problem
        pair = frozenset((link.site_a, link.site_b))
        if pair in pairs:
            yield ("links", index, "site_b"), f"link {pairs[pair]!r} already joins these sites"
        pairs.setdefault(pair, link.name)


def _sae_problems(scenario: Scenario) -> Iterable[tuple[Location, str]]:
    sites = scenario.sites_by_name
    for index, sae in enumerate(scenario.saes):
        problem = _kme_site(sites, sae.kme)
        if problem:
            yield ("saes", index, "kme"), problem


def _demand_problems(scenario: Scenario) -> Iterable[tuple[Location, str]]:
    saes = scenario.saes_by_name
    for index, demand in enumerate(scenario.demands):
        for field in ("master_sae", "slave_sae"):
            name = getattr(demand, field)
            if name not in saes:
                yield ("demands", index, field), f"unknown SAE {name!r}"


def _satellite_problems(scenario: Scenario) -> Iterable[tuple[Location, str]]:
    sites = scenario.sites_by_name
    for index, satellite in enumerate(scenario.satellites):
        for position, name in enumerate(satellite.ground_stations):
            where: Location = ("satellites", index, "ground_stations", position)
            if name not in sites:
                yield where, f"unknown site {name!r}"
            elif not sites[name].is_ground_station:
                yield where, f"site {name!r} has no 'ground-station' role"
