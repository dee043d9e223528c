"""Expected key supply of each fibre link, from the physics of its devices, protocol and length.

The rate is the asymptotic secret key rate of :func:`openqci.physics.secret_key_rate` (signal intensity
optimised, infinite decoys), the figure a planner quotes before any finite-size effect or downtime; the
link simulator of a running network makes less. The devices are the link's preset with its own measured
settings in place (``device:`` in the scenario); the loss is the measured span loss when the link gives
one (``loss_db:``), else the fibre attenuation times the length.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from openqci.physics.keyrate import secret_key_rate
from openqci.scenario import FibreLink, Scenario

__all__ = ["LinkSupply", "expected_supply", "link_supply"]


@dataclass(frozen=True)
class LinkSupply:
    """A link's length, loss and expected secret key rate."""

    link: str
    site_a: str
    site_b: str
    preset: str
    protocol: str
    length_km: float
    loss_db: float
    expected_key_rate_bps: float
    system: str = ""
    """The system the rate comes from: the preset's name, with ``+device`` when the link has its own."""

    def record(self) -> dict[str, object]:
        """A JSON-ready dictionary."""
        return asdict(self)


def link_supply(scenario: Scenario, link: FibreLink) -> LinkSupply:
    """Expected supply of one link of ``scenario``.

    Examples
    --------
    >>> from openqci.scenario import FibreLink, Scenario, Site
    >>> sites = [Site(name=n, roles=["kme"], latitude_deg=48.0, longitude_deg=2.0) for n in ("a", "b")]
    >>> link = FibreLink(name="ab", site_a="a", site_b="b", preset="gys2004", length_km=50.0)
    >>> supply = link_supply(Scenario(name="x", sites=sites, links=[link]), link)
    >>> round(supply.loss_db, 1), round(supply.expected_key_rate_bps)
    (10.5, 445)

    A measured span loss replaces length times attenuation:

    >>> measured = link.model_copy(update={"loss_db": 8.0})
    >>> round(link_supply(Scenario(name="x", sites=sites, links=[measured]), measured).loss_db, 1)
    8.0
    """
    length_km = scenario.link_length_km(link)
    if link.protocol.untrusted_middle:
        from openqci.physics.catalogue import catalogue_rate

        result = catalogue_rate(link.protocol.value, link.preset, length_km)
        return LinkSupply(
            link=link.name,
            site_a=link.site_a,
            site_b=link.site_b,
            preset=link.preset,
            protocol=str(link.protocol),
            length_km=length_km,
            loss_db=float(result.channel_loss_db[0]),
            expected_key_rate_bps=float(result.secret_key_rate_bps[0]),
            system=link.preset,
        )
    system = scenario.link_system(link)
    result = secret_key_rate(system, length_km, protocol=link.protocol.physics_protocol)
    return LinkSupply(
        link=link.name,
        site_a=link.site_a,
        site_b=link.site_b,
        preset=link.preset,
        protocol=str(link.protocol),
        length_km=length_km,
        loss_db=float(result.channel_loss_db),
        expected_key_rate_bps=float(result.secret_key_rate_bps),
        system=system.name,
    )


def expected_supply(scenario: Scenario) -> list[LinkSupply]:
    """Expected supply of every fibre link of ``scenario``, in file order."""
    return [link_supply(scenario, link) for link in scenario.links]
