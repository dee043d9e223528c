"""What a site process posts to the controller every tick: its KMEs and the link ends it feeds.

Kept apart from :mod:`openqci.network.controller_models` so that the 39 site processes of a national
network do not import the controller, its routing (networkx) and the scenario model to send a report:
that cost each about half a second of CPU at start-up. The stored records they become are made on the
controller's side (:meth:`NodeIn.to_report`, :meth:`LinkEndIn.to_report`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from openqci.network.topology import LinkEndReport, NodeReport

__all__ = ["LinkEndIn", "NodeIn", "ReportIn"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NodeIn(_In):
    """A KME site saying it runs."""

    qkdn_id: str = Field(min_length=1, max_length=64)
    kme_url: str = Field(pattern=r"^https://127\.0\.0\.1:\d+$")

    def to_report(self) -> NodeReport:
        """The stored record."""
        from openqci.network.topology import NodeReport

        return NodeReport(self.qkdn_id, self.kme_url)


class LinkEndIn(_In):
    """One end's view of a link (see :class:`openqci.network.topology.LinkEndReport`)."""

    qkdl_id: str = Field(min_length=1, max_length=64)
    qkdn_id: str = Field(min_length=1, max_length=64)
    skr_bps: float = Field(ge=0.0)
    eskr_bps: float = Field(ge=0.0)
    qber: float = Field(ge=0.0, le=0.5)
    available_key_bits: int = Field(ge=0)
    blocks: int = Field(ge=0)
    up: bool = True
    made_key_bits: int = Field(default=0, ge=0)
    consumed_key_bits: int = Field(default=0, ge=0)

    def to_report(self) -> LinkEndReport:
        """The stored record."""
        from openqci.network.topology import LinkEndReport

        return LinkEndReport(**self.model_dump())


class ReportIn(_In):
    """What a site process posts every tick: its KMEs and the link ends it feeds."""

    nodes: list[NodeIn] = Field(default_factory=list, max_length=1000)
    links: list[LinkEndIn] = Field(default_factory=list, max_length=10000)
