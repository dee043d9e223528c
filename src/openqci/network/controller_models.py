"""Wire models of the controller's REST API, with the field names of ETSI GS QKD 015 where it has them.

Stored records (:mod:`openqci.network.topology`, :mod:`openqci.network.alarms`) and wire models are
separate classes; the ``from_*`` constructors are the only bridge, so nothing internal reaches a response
by accident. Times are ISO 8601 strings in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, Field

from openqci.network.alarms import Alarm
from openqci.network.controller import LinkView, NodeView
from openqci.network.report_models import LinkEndIn, NodeIn, ReportIn
from openqci.network.routing import Route

__all__ = [
    "AlarmOut",
    "AlarmsOut",
    "ErrorOut",
    "LinkEndIn",
    "LinkOut",
    "NodeIn",
    "NodeOut",
    "ReportIn",
    "RouteOut",
    "StateOut",
]


def _iso(seconds: float | None) -> str | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).isoformat()


class NodeOut(BaseModel):
    """A node (``qkd_node`` of GS QKD 015) and its status."""

    qkdn_id: str
    qkdn_status: str
    roles: list[str]
    latitude_deg: float
    longitude_deg: float
    kme_url: str | None
    reported_at: str | None

    @classmethod
    def from_view(cls, view: NodeView) -> NodeOut:
        """Build from the controller's view."""
        node = view.node
        return cls(
            qkdn_id=node.qkdn_id,
            qkdn_status=str(view.status),
            roles=list(node.roles),
            latitude_deg=node.latitude_deg,
            longitude_deg=node.longitude_deg,
            kme_url=node.kme_url,
            reported_at=_iso(node.reported_at_s),
        )


class AlarmOut(BaseModel):
    """An alarm, active (``cleared_at`` null) or cleared."""

    kind: str
    link: str
    message: str
    raised_at: str
    cleared_at: str | None

    @classmethod
    def from_alarm(cls, alarm: Alarm) -> AlarmOut:
        """Build from the stored alarm."""
        raised = _iso(alarm.raised_at_s)
        assert raised is not None
        return cls(
            kind=str(alarm.kind),
            link=alarm.link,
            message=alarm.message,
            raised_at=raised,
            cleared_at=_iso(alarm.cleared_at_s),
        )


class LinkOut(BaseModel):
    """A link (``qkd_link`` of GS QKD 015): ends, status, performance and key in store."""

    qkdl_id: str
    qkdl_status: str
    qkdl_type: str = "PHYS"
    qkdl_local: str
    qkdl_remote: str
    length_km: float
    preset: str
    expected_skr_bps: float
    skr_bps: float | None
    eskr_bps: float | None
    qber: float | None
    available_key_bits: int | None
    available_key_bits_by_end: dict[str, int]
    blocks_by_end: dict[str, int]
    made_key_bits_by_end: dict[str, int]
    consumed_key_bits_by_end: dict[str, int]
    alarms: list[AlarmOut]

    @classmethod
    def from_view(cls, view: LinkView) -> LinkOut:
        """Build from the controller's view; performance fields are null until both ends reported."""
        link, state = view.link, view.state
        skr = min((r.skr_bps for r in link.ends.values()), default=None) if state is not None else None
        return cls(
            qkdl_id=link.qkdl_id,
            qkdl_status=str(view.status),
            qkdl_local=link.local_qkdn_id,
            qkdl_remote=link.remote_qkdn_id,
            length_km=link.length_km,
            preset=link.preset,
            expected_skr_bps=link.expected_skr_bps,
            skr_bps=skr,
            eskr_bps=None if state is None else state.key_rate_bps,
            qber=None if state is None else state.qber,
            available_key_bits=None if state is None else state.available_key_bits,
            available_key_bits_by_end={e: r.available_key_bits for e, r in link.ends.items()},
            blocks_by_end={e: r.blocks for e, r in link.ends.items()},
            made_key_bits_by_end={e: r.made_key_bits for e, r in link.ends.items()},
            consumed_key_bits_by_end={e: r.consumed_key_bits for e, r in link.ends.items()},
            alarms=[AlarmOut.from_alarm(a) for a in view.alarms],
        )


class AlarmsOut(BaseModel):
    """Active alarms, and the most recently cleared ones."""

    active: list[AlarmOut]
    cleared: list[AlarmOut]


class StateOut(BaseModel):
    """Everything at once: nodes, links and alarms, as read at ``read_at``."""

    network: str
    read_at: str
    nodes: list[NodeOut]
    links: list[LinkOut]
    alarms: AlarmsOut


class RouteOut(BaseModel):
    """A route between two KMEs: the KMEs in order and the links crossed."""

    source_kme: str
    destination_kme: str
    key_bits: int
    kmes: list[str]
    links: list[str]
    hops: int

    @classmethod
    def from_route(cls, route: Route, key_bits: int) -> RouteOut:
        """Build from a computed route."""
        return cls(
            source_kme=route.kmes[0],
            destination_kme=route.kmes[-1],
            key_bits=key_bits,
            kmes=list(route.kmes),
            links=list(route.links),
            hops=route.hops,
        )


class ErrorOut(BaseModel):
    """Every error answer: a message saying why and what to do, in the shape of ETSI 014's Error."""

    message: str
    details: list[dict[str, str]] = Field(default_factory=list)
