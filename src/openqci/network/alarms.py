"""Link alarms as pure functions of the live topology: which conditions hold, what they raise or clear.

Three rules, each per link: the QBER one of its ends reports is above the threshold (a suspected
eavesdropper: an intercept-resend attack on a fraction f of the pulses adds about f/4 to the QBER), the key
available at the poorer end is below a floor (the link is drained), and the link is down (an end says so or
has gone silent). :func:`alarm_conditions` finds the conditions that hold; :func:`update_alarms` compares
them with the active alarms and returns which to raise, which to keep and which to clear, stamped with the
time the caller passes in. Only a QBER alarm hides a link from routing: a drained link is already routed
around by its available key, and a down one by its status.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from openqci.network.topology import LinkStatus, QkdLink, link_available_key_bits, link_status

__all__ = ["Alarm", "AlarmKind", "AlarmRules", "AlarmUpdate", "alarm_conditions", "update_alarms"]


class AlarmKind(StrEnum):
    """What an alarm is about."""

    QBER_HIGH = "qber-high"
    KEY_DRAINED = "key-drained"
    LINK_DOWN = "link-down"


@dataclass(frozen=True)
class AlarmRules:
    """Thresholds of the alarm rules.

    ``qber_threshold`` sits above the QBER of every preset in normal operation (2.4 % to 3.4 % on the
    scenarios' links) and below the 11 % at which BB84 post-processing aborts, so an attack is flagged
    before the link stops; ``key_floor_bits`` is a few ETSI 014 keys of 256 bits.
    """

    qber_threshold: float = 0.05
    key_floor_bits: int = 4096
    stale_after_s: float = 5.0


@dataclass(frozen=True)
class Alarm:
    """An alarm on a link: raised at ``raised_at_s``, cleared at ``cleared_at_s`` (clock seconds)."""

    kind: AlarmKind
    link: str
    message: str
    raised_at_s: float
    cleared_at_s: float | None = None

    @property
    def key(self) -> tuple[AlarmKind, str]:
        """What identifies an alarm among the active ones: one of each kind per link."""
        return (self.kind, self.link)


@dataclass(frozen=True)
class AlarmUpdate:
    """The outcome of :func:`update_alarms`: the alarms now active, and those that just cleared."""

    active: dict[tuple[AlarmKind, str], Alarm]
    raised: list[Alarm]
    cleared: list[Alarm]


def alarm_conditions(
    links: Iterable[QkdLink], rules: AlarmRules, now_s: float
) -> dict[tuple[AlarmKind, str], str]:
    """The alarm conditions that hold at ``now_s``, each with a message for the operator.

    Examples
    --------
    >>> from openqci.network.topology import LinkEndReport
    >>> ends = {e: LinkEndReport("ab", e, 0.0, 0.0, 0.09, 0, 3) for e in ("a", "b")}
    >>> link = QkdLink("ab", "a", "b", 25.0, "yuan2018", 6e6, ends, {"a": 0.0, "b": 0.0})
    >>> sorted(kind.value for kind, _ in alarm_conditions([link], AlarmRules(), 1.0))
    ['key-drained', 'qber-high']
    """
    found: dict[tuple[AlarmKind, str], str] = {}
    for link in links:
        status = link_status(link, now_s, rules.stale_after_s)
        if status is LinkStatus.UNKNOWN:
            continue
        if status is LinkStatus.DOWN:
            found[(AlarmKind.LINK_DOWN, link.qkdl_id)] = _down_message(link, now_s, rules)
            continue
        qber = max(report.qber for report in link.ends.values())
        if qber > rules.qber_threshold:
            found[(AlarmKind.QBER_HIGH, link.qkdl_id)] = (
                f"QBER {qber:.3f} above {rules.qber_threshold:.3f}: possible eavesdropper; link key withheld"
            )
        available = link_available_key_bits(link)
        if available < rules.key_floor_bits:
            found[(AlarmKind.KEY_DRAINED, link.qkdl_id)] = (
                f"{available} key bits available, below the floor of {rules.key_floor_bits}"
            )
    return found


def update_alarms(
    active: Mapping[tuple[AlarmKind, str], Alarm],
    conditions: Mapping[tuple[AlarmKind, str], str],
    now_s: float,
) -> AlarmUpdate:
    """Raise the conditions not yet alarmed, keep those still holding, clear the rest, all at ``now_s``."""
    kept = {key: alarm for key, alarm in active.items() if key in conditions}
    raised = [
        Alarm(kind, link, message, raised_at_s=now_s)
        for (kind, link), message in conditions.items()
        if (kind, link) not in active
    ]
    cleared = [replace(alarm, cleared_at_s=now_s) for key, alarm in active.items() if key not in conditions]
    return AlarmUpdate({**kept, **{alarm.key: alarm for alarm in raised}}, raised, cleared)


def _down_message(link: QkdLink, now_s: float, rules: AlarmRules) -> str:
    said_down = sorted(end for end, report in link.ends.items() if not report.up)
    if said_down:
        return f"reported down by {', '.join(said_down)}"
    silent = sorted(end for end, at in link.reported_at_s.items() if now_s - at > rules.stale_after_s)
    return f"no report from {', '.join(silent)} for more than {rules.stale_after_s:g} s"
