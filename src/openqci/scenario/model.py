"""The scenario: one YAML file that describes a whole QKD network, and the one function that reads it.

A scenario lists sites (with coordinates and roles), the fibre links between KME sites, satellites, the SAEs
attached to KMEs and the key demands between SAEs. :func:`load_scenario` is the only place that touches the
file; everything else (routing, supply, the launcher, the planner) receives the validated :class:`Scenario`.

Validation happens in two passes: pydantic checks each entry on its own (types, ranges, known presets), then
:class:`Scenario` checks the references between entries (a link names existing KME sites, an SAE an existing
KME, a demand existing SAEs, names unique). Every problem is reported as ``entry: field: what is wrong``,
and :func:`load_scenario` prefixes the file name. The format is documented in ``docs/scenario.md``; its JSON
Schema, generated from these models by :func:`scenario_json_schema`, is ``docs/scenario.schema.json``.
"""

from __future__ import annotations

import itertools
import os
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from openqci.physics.devices import QkdSystem
from openqci.physics.presets import PRESETS
from openqci.physics.protocols import Protocol
from openqci.scenario.devices import DeviceSettings, check_device, link_system
from openqci.scenario.errors import ScenarioError
from openqci.scenario.geo import great_circle_km
from openqci.scenario.include import IncludeError, resolve_includes
from openqci.scenario.planning import Planning, planning_problems
from openqci.scenario.problems import REFERENCE_ERROR, describe_validation_error
from openqci.scenario.quantum import QuantumNode
from openqci.scenario.references import reference_problems
from openqci.yamlfile import YamlFileError, read_yaml_mapping

__all__ = [
    "DEFAULT_ROUTE_FACTOR",
    "Demand",
    "Etsi014Device",
    "FibreLink",
    "FilesDevice",
    "KeySourceKind",
    "LinkProtocol",
    "OrbitalElements",
    "QuantumNode",
    "RoutingPolicy",
    "Sae",
    "Satellite",
    "Scenario",
    "Site",
    "SiteRole",
    "TwoLineElements",
    "load_scenario",
    "scenario_json_schema",
]

DEFAULT_ROUTE_FACTOR = 1.3
"""Fibre route length over great-circle distance when a link states no length."""


def _known_preset(name: str) -> str:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of: {', '.join(sorted(PRESETS))}")
    return name


Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)]
"""Names end up in URLs (``/api/v1/keys/{slave_SAE_ID}``), certificates and file names: keep them plain."""

PresetName = Annotated[str, AfterValidator(_known_preset)]


class SiteRole(StrEnum):
    """What a site does in the network (a site may have several roles)."""

    KME = "kme"
    """Runs a key management entity: fibre links end here and SAEs attach here."""
    TRUSTED_NODE = "trusted-node"
    """A secured relay: decrypts and re-encrypts keys hop by hop (it runs a KME, so it also has ``kme``)."""
    GROUND_STATION = "ground-station"
    """An optical ground station that receives key from satellites."""
    USER_SITE = "user-site"
    """A partner's premises where applications (SAEs) use keys."""
    UNTRUSTED_NODE = "untrusted-node"
    """The measuring node in the middle of a twin-field or MDI link: it learns nothing of the key, holds
    none and relays none, so it runs no KME and is no hop of any route."""


class LinkProtocol(StrEnum):
    """The QKD protocol a fibre link runs; its key rate comes from :mod:`openqci.physics`."""

    DECOY_BB84 = "decoy-bb84"
    BBM92 = "bbm92"
    TF_QKD = "tf-qkd"
    """Twin-field: the two ends send to an untrusted node in the middle (``middle_site``)."""
    MDI_QKD = "mdi-qkd"
    """Measurement-device-independent: the same, with a Bell-state measurement in the middle."""

    @property
    def untrusted_middle(self) -> bool:
        """Whether the link runs through an untrusted measuring node (:mod:`openqci.physics.catalogue`)."""
        return self in (LinkProtocol.TF_QKD, LinkProtocol.MDI_QKD)

    @property
    def physics_protocol(self) -> Protocol:
        """The key-rate model of :mod:`openqci.physics.keyrate` for this protocol (not the untrusted-middle
        protocols, whose models are in :mod:`openqci.physics.catalogue`)."""
        if self.untrusted_middle:
            raise ValueError(f"{self.value} has its model in openqci.physics.catalogue")
        return Protocol(self.value)


class KeySourceKind(StrEnum):
    """What makes a fibre link's key in a launched network (``source`` of a link)."""

    MODEL = "model"
    """The rate model: key at the secret key rate physics predicts, for networks of any size."""
    ENGINE = "engine"
    """The link engine in a process of its own: sampled detections, sifting, estimation, Cascade,
    verification, privacy amplification and authentication, block after block in real time."""
    FILES = "files"
    """A QKD device at each end that drops its key as files in a folder (``devices``: a folder per end)."""
    ETSI014 = "etsi014"
    """A QKD device at each end that serves its key over ETSI GS QKD 014 (``devices``: one per end)."""


class _Entry(BaseModel):
    """Every scenario record: immutable, unknown fields refused, attribute docstrings in the JSON Schema."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class Site(_Entry):
    """A place in the network, with its coordinates (WGS 84) and roles."""

    name: Name
    """Unique site name, also the KME's identifier when the site runs a KME."""
    roles: tuple[SiteRole, ...] = Field(min_length=1)
    """One or more of kme, trusted-node, ground-station, user-site."""
    latitude_deg: float = Field(ge=-90.0, le=90.0)
    """Geodetic latitude, degrees north."""
    longitude_deg: float = Field(ge=-180.0, le=180.0)
    """Longitude, degrees east."""
    altitude_m: float = Field(default=0.0, ge=-500.0, le=9000.0)
    """Height above sea level, metres (matters for ground stations)."""
    organisation: str = ""
    """Who operates the site."""
    description: str = ""
    """What the site is."""
    reference: str = ""
    """The public source of the coordinates."""
    quantum: QuantumNode | None = None
    """Quantum memories at the site, for the Quantum Information Network (``openqci qin route``)."""

    @field_validator("roles")
    @classmethod
    def _coherent_roles(cls, roles: tuple[SiteRole, ...]) -> tuple[SiteRole, ...]:
        if len(set(roles)) != len(roles):
            raise ValueError("a role is listed twice")
        if SiteRole.TRUSTED_NODE in roles and SiteRole.KME not in roles:
            raise ValueError("a trusted node relays keys through its KME: add the role 'kme'")
        if SiteRole.UNTRUSTED_NODE in roles and SiteRole.KME in roles:
            raise ValueError("an untrusted node holds no key: it cannot have the role 'kme' as well")
        return roles

    @property
    def is_kme(self) -> bool:
        """Whether the site runs a KME."""
        return SiteRole.KME in self.roles

    @property
    def is_ground_station(self) -> bool:
        """Whether satellites exchange key with the site."""
        return SiteRole.GROUND_STATION in self.roles


class FilesDevice(_Entry):
    """One end's QKD device that writes each block as a key file and its JSON sidecar (docs/devices.md)."""

    folder: str = Field(min_length=1)
    """The folder the device writes into (relative paths: from the scenario file's folder)."""


class Etsi014Device(_Entry):
    """One end's QKD device that serves its key over ETSI GS QKD 014; the KME is one of its SAEs."""

    url: str = Field(pattern=r"^https://")
    """The device's key service (HTTPS with mutual TLS)."""
    sae_id: str = Field(min_length=1, max_length=64)
    """This end's KME as an SAE of its device; the other end's ``sae_id`` is its peer SAE."""
    ca: str = Field(min_length=1)
    """CA certificate that signs the device's server certificate."""
    certificate: str = Field(min_length=1)
    """The KME's client certificate at the device."""
    private_key: str = Field(min_length=1)
    """Its private key."""
    key_size: int = Field(default=256, gt=0, multiple_of=8)
    """Bits per key asked of the device (a multiple of the KME's unit, 256 bits)."""


class FibreLink(_Entry):
    """A QKD link over fibre between two KME sites."""

    name: Name
    """Unique link name."""
    site_a: Name
    """One end (a site with the kme role)."""
    site_b: Name
    """The other end (a site with the kme role)."""
    protocol: LinkProtocol = LinkProtocol.DECOY_BB84
    """QKD protocol run on the link."""
    preset: str = Field(min_length=1, max_length=64)
    """Device preset of openqci.physics (see `openqci presets`); tf-qkd and mdi-qkd links name one of
    their protocol's presets (`openqci keyrate --protocol tf-qkd --preset NAME`)."""
    middle_site: Name | None = None
    """For tf-qkd and mdi-qkd: the untrusted node in the middle (a site with the untrusted-node role);
    without ``length_km`` the fibre runs from site_a through it to site_b."""
    length_km: float | None = Field(default=None, gt=0.0)
    """Fibre length; when absent, the great-circle distance between the ends times route_factor."""
    route_factor: float = Field(default=DEFAULT_ROUTE_FACTOR, ge=1.0, le=5.0)
    """Fibre route length over great-circle distance, used only when length_km is absent."""
    source: KeySourceKind = KeySourceKind.MODEL
    """What makes the link's key when the network is launched: the rate model, the link engine, or QKD
    devices (key files or ETSI GS QKD 014, named under ``devices``)."""
    devices: dict[str, FilesDevice | Etsi014Device] | None = None
    """For ``source: files`` or ``etsi014``: each end's device, by the end's site name."""
    device: DeviceSettings | None = None
    """Measured settings of this link's source and detectors, each replacing the preset's value."""
    loss_db: float | None = Field(default=None, gt=0.0, le=100.0)
    """Measured span loss; replaces the length times the fibre attenuation."""

    @field_validator("preset")
    @classmethod
    def _preset_of_protocol(cls, preset: str, info: ValidationInfo) -> str:
        protocol = info.data.get("protocol", LinkProtocol.DECOY_BB84)
        if not protocol.untrusted_middle:
            return _known_preset(preset)
        from openqci.physics.catalogue import catalogue_entry

        presets = catalogue_entry(protocol.value).presets
        if preset not in presets:
            choices = ", ".join(presets)
            raise ValueError(
                f"unknown preset {preset!r} for protocol {protocol.value}; choose one of: {choices}"
            )
        return preset

    @model_validator(mode="after")
    def _untrusted_middle_fits(self) -> FibreLink:
        if not self.protocol.untrusted_middle:
            if self.middle_site is not None:
                raise ValueError("middle_site applies to tf-qkd and mdi-qkd links only")
            return self
        given = [name for name in ("device", "loss_db") if getattr(self, name) is not None]
        if given:
            raise ValueError(f"{' and '.join(given)} apply to decoy-bb84 and bbm92 links only")
        if self.source is KeySourceKind.ENGINE:
            raise ValueError(
                f"the link engine runs decoy BB84: source engine cannot run {self.protocol.value}"
            )
        return self

    @model_validator(mode="after")
    def _device_fits_preset(self) -> FibreLink:
        if self.device is not None and not self.protocol.untrusted_middle:
            check_device(self.preset, self.device)
        return self

    @model_validator(mode="after")
    def _devices_match_source(self) -> FibreLink:
        kinds = {KeySourceKind.FILES: FilesDevice, KeySourceKind.ETSI014: Etsi014Device}
        wanted = kinds.get(self.source)
        if wanted is None:
            if self.devices is not None:
                raise ValueError(f"devices apply to source files or etsi014, not {self.source.value}")
            return self
        if self.devices is None or set(self.devices) != {self.site_a, self.site_b}:
            raise ValueError(
                f"source {self.source.value} needs devices for both ends: {self.site_a}, {self.site_b}"
            )
        for end, device in self.devices.items():
            if not isinstance(device, wanted):
                raise ValueError(f"devices.{end} does not describe a device for source {self.source.value}")
        return self

    @field_validator("site_b")
    @classmethod
    def _two_ends(cls, site_b: str, info: ValidationInfo) -> str:
        if site_b == info.data.get("site_a"):
            raise ValueError("a link joins two different sites")
        return site_b

    @field_validator("route_factor")
    @classmethod
    def _factor_or_length(cls, factor: float, info: ValidationInfo) -> float:
        if info.data.get("length_km") is not None:
            raise ValueError("give length_km or route_factor, not both (the factor scales the distance)")
        return factor


class TwoLineElements(_Entry):
    """A NORAD two-line element set (format, line numbers and checksums are checked here)."""

    line1: str
    """TLE line 1, 69 characters."""
    line2: str
    """TLE line 2, 69 characters."""

    @field_validator("line1", "line2")
    @classmethod
    def _tle_line(cls, line: str, info: ValidationInfo) -> str:
        number = 1 if info.field_name == "line1" else 2
        line = line.rstrip()
        if len(line) != 69 or not line.startswith(f"{number} "):
            raise ValueError(f"must be 69 characters starting with '{number} '")
        checksum = (sum(int(c) for c in line[:68] if c.isdigit()) + line[:68].count("-")) % 10
        if line[68] != str(checksum):
            raise ValueError(f"checksum digit should be {checksum}, found {line[68]!r}")
        return line


class OrbitalElements(_Entry):
    """Mean orbital elements at an epoch, for a satellite that has no TLE yet (a planned one)."""

    epoch: datetime
    """Epoch of the elements, ISO 8601 with a time zone (UTC: 'Z')."""
    altitude_km: float = Field(gt=100.0, lt=40000.0)
    """Mean altitude: semi-major axis minus the equatorial radius."""
    inclination_deg: float = Field(ge=0.0, le=180.0)
    raan_deg: float = Field(ge=0.0, lt=360.0)
    """Right ascension of the ascending node."""
    eccentricity: float = Field(default=0.0, ge=0.0, lt=1.0)
    argument_of_perigee_deg: float = Field(default=0.0, ge=0.0, lt=360.0)
    mean_anomaly_deg: float = Field(default=0.0, ge=0.0, lt=360.0)
    bstar: float = 0.0
    """SGP4 drag term, per Earth radius."""

    @field_validator("epoch")
    @classmethod
    def _aware(cls, epoch: datetime) -> datetime:
        if epoch.tzinfo is None:
            raise ValueError("give a time zone, e.g. 2025-01-01T00:00:00Z")
        return epoch


class Satellite(_Entry):
    """A QKD satellite acting as a trusted relay between the ground stations it serves."""

    name: Name
    tle: TwoLineElements | None = None
    """Two-line elements; give either tle or elements."""
    elements: OrbitalElements | None = None
    """Mean orbital elements; give either tle or elements."""
    preset: PresetName = "micius2017"
    """Device preset of the downlink."""
    ground_stations: tuple[Name, ...] = ()
    """Sites (with the ground-station role) the satellite exchanges key with."""

    @field_validator("elements")
    @classmethod
    def _one_orbit(cls, elements: OrbitalElements | None, info: ValidationInfo) -> OrbitalElements | None:
        if (elements is None) == (info.data.get("tle") is None):
            raise ValueError("give either tle or elements, not both")
        return elements

    @model_validator(mode="after")
    def _has_orbit(self) -> Satellite:
        if self.tle is None and self.elements is None:
            raise PydanticCustomError("orbit_missing", "tle: give either tle or elements")
        return self


class RoutingPolicy(_Entry):
    """How relays treat a link whose quantum channel is down; the controller and the planner's twin both
    follow it, so the twin plans the network that runs."""

    stored_key_over_down_links: bool = False
    """A link whose key source is down (a cut fibre, a device fault) still relays the key already in its
    stores while both its KMEs answer, until that key runs out; off (the default), relays go around it at
    once. A KME-to-KME relay message is one-time-pad encrypted and authenticated, so it may travel any
    classical path, not the cut fibre's; a link with a QBER alarm is avoided either way."""


class Sae(_Entry):
    """A secure application entity: an application that takes keys from one KME (ETSI GS QKD 014)."""

    name: Name
    """The SAE_ID."""
    kme: Name
    """The site of the KME the SAE talks to."""
    description: str = ""


class Demand(_Entry):
    """A steady need for key between two SAEs: a rate, or a rekey period and key size."""

    name: Name
    master_sae: Name
    """The SAE that asks for keys (enc_keys)."""
    slave_sae: Name
    """The SAE that fetches the same keys (dec_keys)."""
    key_rate_bps: float | None = Field(default=None, gt=0.0)
    """Key bits per second; or give rekey_period_s and key_size_bits."""
    rekey_period_s: float | None = Field(default=None, gt=0.0)
    """A new key every this many seconds (for instance an AES session key)."""
    key_size_bits: int | None = Field(default=None, gt=0, multiple_of=8)
    """Size of each key, bits (ETSI GS QKD 014 sizes are multiples of 8)."""

    @field_validator("slave_sae")
    @classmethod
    def _two_saes(cls, slave: str, info: ValidationInfo) -> str:
        if slave == info.data.get("master_sae"):
            raise ValueError("a demand joins two different SAEs")
        return slave

    @model_validator(mode="after")
    def _one_kind(self) -> Demand:
        rekey = (self.rekey_period_s, self.key_size_bits)
        if self.key_rate_bps is not None and any(value is not None for value in rekey):
            raise PydanticCustomError("demand_kind", "key_rate_bps: give it, or rekey_period_s, not both")
        if self.key_rate_bps is None and None in rekey:
            raise PydanticCustomError(
                "demand_kind", "key_rate_bps: give it, or both rekey_period_s and key_size_bits"
            )
        return self

    @property
    def required_rate_bps(self) -> float:
        """Key bits per second the demand consumes."""
        if self.key_rate_bps is not None:
            return self.key_rate_bps
        assert self.key_size_bits is not None
        assert self.rekey_period_s is not None
        return self.key_size_bits / self.rekey_period_s


class Scenario(_Entry):
    """A whole network: sites, fibre links, satellites, SAEs and demands, cross-checked."""

    name: Name
    description: str = ""
    sites: tuple[Site, ...] = Field(min_length=1)
    links: tuple[FibreLink, ...] = ()
    satellites: tuple[Satellite, ...] = ()
    saes: tuple[Sae, ...] = ()
    demands: tuple[Demand, ...] = ()
    include: tuple[str, ...] = ()
    """Scenario files this one builds on (relative to it); their entries come first, and an entry of the
    same name here replaces theirs (docs/scenario.md)."""
    planning: Planning | None = None
    """Inputs of the planner: weather, outages, storage limits, candidates and costs (docs/planner.md)."""
    routing: RoutingPolicy = RoutingPolicy()
    """How relays treat links whose quantum channel is down (docs/network.md, routing)."""

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        problems = reference_problems(self) + planning_problems(self)
        if problems:
            context = {"count": len(problems), "problems": problems}
            raise PydanticCustomError(REFERENCE_ERROR, "{count} reference problem(s)", context)
        return self

    @property
    def sites_by_name(self) -> dict[str, Site]:
        """Sites keyed by name."""
        return {site.name: site for site in self.sites}

    @property
    def saes_by_name(self) -> dict[str, Sae]:
        """SAEs keyed by SAE_ID."""
        return {sae.name: sae for sae in self.saes}

    @property
    def kme_sites(self) -> tuple[Site, ...]:
        """The sites that run a KME, in file order."""
        return tuple(site for site in self.sites if site.is_kme)

    def link_length_km(self, link: FibreLink) -> float:
        """Fibre length of ``link``: as stated, or great-circle distance between its ends times its factor."""
        if link.length_km is not None:
            return link.length_km
        sites = self.sites_by_name
        names = (
            [link.site_a, link.site_b]
            if link.middle_site is None
            else [link.site_a, link.middle_site, link.site_b]
        )
        stops = [sites[name] for name in names]
        distance_km = sum(
            float(great_circle_km(p.latitude_deg, p.longitude_deg, q.latitude_deg, q.longitude_deg))
            for p, q in itertools.pairwise(stops)
        )
        return distance_km * link.route_factor

    def link_system(self, link: FibreLink) -> QkdSystem:
        """The QKD system ``link`` runs: its preset, its ``device`` settings and its measured loss."""
        return link_system(
            link.preset, link.device, length_km=self.link_length_km(link), loss_db=link.loss_db
        )


def load_scenario(path: str | os.PathLike[str]) -> Scenario:
    """Read and validate a scenario file.

    Parameters
    ----------
    path
        A YAML file in the format of ``docs/scenario.md``.

    Returns
    -------
    Scenario
        The validated, immutable model.

    Raises
    ------
    ScenarioError
        If the file cannot be read, is not YAML, or breaks the format; the message names the file, the entry
        and the field, as in ``scenarios/x.yaml: links[3] (paris-orsay): length_km: must be > 0``.
    """
    shown = os.fspath(path)
    try:
        raw = resolve_includes(read_yaml_mapping(shown, "name, sites, links, saes, demands, ..."), shown)
    except (YamlFileError, IncludeError) as error:
        raise ScenarioError(shown, [str(error)]) from None
    try:
        return Scenario.model_validate(raw)
    except ValidationError as error:
        raise ScenarioError(shown, describe_validation_error(error, raw)) from None


def scenario_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the scenario format, generated from the models."""
    schema = Scenario.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **schema,
    }
