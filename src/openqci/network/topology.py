"""The live topology of a running network, named after ETSI GS QKD 015's model (nodes, links, performance).

A node is a KME site (``qkdn_id``); a link is a physical QKD link between two of them (``qkdl_id``,
``qkdl_local``/``qkdl_remote``). What the controller learns comes in as reports: each KME site says it is
up and where its ETSI 014 API listens (:class:`NodeReport`), and the key supply at each end of each link
says what the link makes and what that end holds (:class:`LinkEndReport`): the secret key rate (015's
``skr``), the rate that reaches the KMEs (``eskr``), the QBER (a ``phys_perf`` value in 015) and the key
available at that end. A link's status and its routing state are pure functions of its two latest end
reports and the time: an end that has been silent longer than ``stale_after_s`` counts as down.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from openqci.network.routing import LinkState

__all__ = [
    "LinkEndReport",
    "LinkStatus",
    "NodeReport",
    "NodeStatus",
    "QkdLink",
    "QkdNode",
    "link_available_key_bits",
    "link_status",
    "node_status",
    "routing_state",
]


class NodeStatus(StrEnum):
    """``qkdn_status`` of ETSI GS QKD 015, as far as the controller can tell."""

    UP = "up"
    DOWN = "down"
    """The site reported before and has been silent longer than the staleness limit."""
    UNKNOWN = "unknown"
    """The site has not reported yet."""


class LinkStatus(StrEnum):
    """``qkdl_status`` of ETSI GS QKD 015, as far as the controller can tell."""

    UP = "up"
    DOWN = "down"
    """An end reports the link down (fibre cut, device failure) or has gone silent."""
    UNKNOWN = "unknown"
    """An end has not reported yet."""


@dataclass(frozen=True)
class NodeReport:
    """A KME site saying it runs: its ID and the URL of its ETSI GS QKD 014 API."""

    qkdn_id: str
    kme_url: str


@dataclass(frozen=True)
class LinkEndReport:
    """What the key supply at one end of a link says about it.

    Attributes
    ----------
    qkdl_id, qkdn_id
        The link, and the KME at the reporting end.
    skr_bps
        Secret key rate the link makes now (0 when it cannot prove security).
    eskr_bps
        Key rate that reaches the KMEs (the secret key rate, capped by the KME's intake).
    qber
        Latest estimated QBER.
    available_key_bits
        Key in this end's store that this end may still hand out.
    blocks
        KeyBlocks handed to this end's KME so far.
    up
        Whether the link runs (a cut fibre reports ``False``).
    made_key_bits, consumed_key_bits
        Key this end's store has taken in from the link so far (both halves), and how much of it is
        consumed.
    """

    qkdl_id: str
    qkdn_id: str
    skr_bps: float
    eskr_bps: float
    qber: float
    available_key_bits: int
    blocks: int
    up: bool = True
    made_key_bits: int = 0
    consumed_key_bits: int = 0


@dataclass(frozen=True)
class QkdNode:
    """A KME site of the scenario and what it last reported (``reported_at_s`` is clock time)."""

    qkdn_id: str
    roles: tuple[str, ...]
    latitude_deg: float
    longitude_deg: float
    kme_url: str | None = None
    reported_at_s: float | None = None


@dataclass(frozen=True)
class QkdLink:
    """A fibre link of the scenario and the latest report from each of its ends, keyed by KME ID."""

    qkdl_id: str
    local_qkdn_id: str
    remote_qkdn_id: str
    length_km: float
    preset: str
    expected_skr_bps: float
    ends: Mapping[str, LinkEndReport] = field(default_factory=dict)
    reported_at_s: Mapping[str, float] = field(default_factory=dict)

    @property
    def end_ids(self) -> tuple[str, str]:
        """The KME IDs of the two ends."""
        return (self.local_qkdn_id, self.remote_qkdn_id)


def node_status(node: QkdNode, now_s: float, stale_after_s: float) -> NodeStatus:
    """Up when the site reported within ``stale_after_s`` seconds of ``now_s``."""
    if node.reported_at_s is None:
        return NodeStatus.UNKNOWN
    return NodeStatus.UP if now_s - node.reported_at_s <= stale_after_s else NodeStatus.DOWN


def link_status(link: QkdLink, now_s: float, stale_after_s: float) -> LinkStatus:
    """Down if an end says so or has gone silent; unknown until both ends reported; otherwise up.

    Examples
    --------
    >>> link = QkdLink("ab", "a", "b", 10.0, "yuan2018", 1e6)
    >>> link_status(link, 0.0, 5.0)
    <LinkStatus.UNKNOWN: 'unknown'>
    """
    reports = [link.ends.get(end) for end in link.end_ids]
    if any(report is not None and not report.up for report in reports):
        return LinkStatus.DOWN
    if _an_end_is_silent(link, now_s, stale_after_s):
        return LinkStatus.DOWN
    return LinkStatus.UNKNOWN if None in reports else LinkStatus.UP


def _an_end_is_silent(link: QkdLink, now_s: float, stale_after_s: float) -> bool:
    """Whether an end that reported has said nothing for more than ``stale_after_s`` seconds."""
    return any(now_s - at > stale_after_s for at in link.reported_at_s.values())


def link_available_key_bits(link: QkdLink) -> int:
    """Key the link can spend in either direction: the smaller of its ends' available key (0 if unknown).

    Each end hands out only its own half of the pool (see :mod:`openqci.kms.units`): this is what the link
    holds for a relay in either direction. Routing reads each end's half as well, since a relay spends
    only the half of the hop's sending end (:meth:`openqci.network.routing.LinkState.sendable_bits`).
    """
    reports = [link.ends.get(end) for end in link.end_ids]
    return min((r.available_key_bits if r is not None else 0) for r in reports)


def routing_state(
    link: QkdLink, now_s: float, stale_after_s: float, *, alarmed: bool, stored_key_when_down: bool = False
) -> LinkState | None:
    """The :class:`LinkState` routing reads for ``link``; ``None`` until both ends have reported.

    ``stored_key_when_down`` (the scenario's routing policy): a link down while both ends still report in
    time relays the key it holds (``relays_stored_key``); an end gone silent stops it.
    """
    status = link_status(link, now_s, stale_after_s)
    if status is LinkStatus.UNKNOWN:
        return None
    reports = [r for r in (link.ends.get(end) for end in link.end_ids) if r is not None]
    answering = len(reports) == len(link.end_ids) and not _an_end_is_silent(link, now_s, stale_after_s)
    return LinkState(
        available_key_bits=link_available_key_bits(link),
        key_rate_bps=min(r.eskr_bps for r in reports),
        qber=max(r.qber for r in reports),
        up=status is LinkStatus.UP,
        alarm=alarmed,
        available_by_end=tuple((end, r.available_key_bits) for end, r in sorted(link.ends.items())),
        relays_stored_key=stored_key_when_down and status is LinkStatus.DOWN and answering,
    )
