"""The demonstration's figures: what each link made and spent, and the key the exchange's policy needs.

Key made and consumed come from the controller's state before and after the exchange (the first end of
each link reports both; the other end's figures are the same, since every relay hop spends the same units
at both ends). The key the exchange needs per hour at its rekey policy is the number of keys its policy
takes per hour times the bits each key cost on the link (measured: the bits the link spent over the keys
that crossed it); what the link supplies per hour is the key it delivered to its KMEs during the exchange,
scaled to an hour.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

from openqci.services.atc.exchange import ExchangeResult

__all__ = ["DemoResult", "LinkFigures", "keys_per_hour", "link_figures"]


@dataclass(frozen=True)
class LinkFigures:
    """One link's key during the demonstration (bits, as its first end counted them)."""

    link: str
    ends: tuple[str, str]
    status: str
    made_bits: int
    made_during_exchange_bits: int
    consumed_during_exchange_bits: int
    keys_relayed: int
    supply_per_hour_bits: float
    needed_per_hour_bits: float

    def record(self) -> dict[str, Any]:
        return {
            "link": self.link,
            "ends": list(self.ends),
            "status": self.status,
            "made_bits": self.made_bits,
            "made_during_exchange_bits": self.made_during_exchange_bits,
            "consumed_during_exchange_bits": self.consumed_during_exchange_bits,
            "keys_relayed": self.keys_relayed,
            "supply_per_hour_bits": self.supply_per_hour_bits,
            "needed_per_hour_bits": self.needed_per_hour_bits,
        }


@dataclass
class DemoResult:
    """Everything the summary and the report show."""

    network: str
    launched_s: float = 0.0
    total_s: float = 0.0
    exchange: ExchangeResult | None = None
    cut_link: str = ""
    links: list[LinkFigures] = field(default_factory=list)
    stopped_processes: int = 0

    def record(self) -> dict[str, Any]:
        exchange = self.exchange
        return {
            "network": self.network,
            "launched_s": self.launched_s,
            "total_s": self.total_s,
            "cut_link": self.cut_link,
            "keys_per_hour_at_policy": keys_per_hour(exchange) if exchange else 0.0,
            "links": [link.record() for link in self.links],
            "exchange": exchange.record() if exchange else None,
            "stopped_processes": self.stopped_processes,
        }


def keys_per_hour(exchange: ExchangeResult) -> float:
    """Keys the channel takes per hour at its policy: each ``rekey_seconds``, or sooner by record count."""
    config = exchange.settings.channel
    by_time = 3600.0 / config.rekey_seconds
    records_per_hour = exchange.records_sent / max(exchange.duration_s, 1e-9) * 3600.0
    return max(by_time, records_per_hour / config.rekey_records)


def link_figures(
    before: dict[str, Any], after: dict[str, Any], names: list[str], exchange: ExchangeResult | None
) -> list[LinkFigures]:
    """The figures of the links ``names``, from two controller states taken around the exchange."""
    old = {x["qkdl_id"]: x for x in before["links"]}
    new = {x["qkdl_id"]: x for x in after["links"]}
    duration_s = max(exchange.duration_s, 1e-9) if exchange else 1.0
    per_hour = keys_per_hour(exchange) if exchange else 0.0
    figures = []
    for name in names:
        link, was = new[name], old[name]
        end = link["qkdl_local"]
        made = int(link["made_key_bits_by_end"].get(end, 0))
        made_run = made - int(was["made_key_bits_by_end"].get(end, 0))
        spent = int(link["consumed_key_bits_by_end"].get(end, 0)) - int(
            was["consumed_key_bits_by_end"].get(end, 0)
        )
        ends = (str(link["qkdl_local"]), str(link["qkdl_remote"]))
        relayed = _keys_over(exchange, ends) if exchange else 0
        per_key = spent / relayed if relayed else math.nan
        figures.append(
            LinkFigures(
                name,
                ends,
                str(link["qkdl_status"]),
                made,
                made_run,
                spent,
                relayed,
                made_run / duration_s * 3600.0,
                per_hour * per_key,
            )
        )
    return figures


def _keys_over(exchange: ExchangeResult, ends: tuple[str, str]) -> int:
    pair = frozenset(ends)
    return sum(
        1 for key in exchange.keys if any(frozenset(hop) == pair for hop in itertools.pairwise(key.route))
    )
