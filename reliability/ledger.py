"""The invariants of key delivery, checked on every answer an SAE gets and once more at the end.

A :class:`KeyLedger` remembers every key a master SAE received and every key a slave SAE retrieved:
no key_ID (and no key material) may be handed out twice, a slave must get the master's bytes, and at the
end every key a master holds must be retrievable exactly once by its slave. A request whose answer was
lost (the KME was killed while it ran) leaves its keys *in doubt*: they may have been served or not, but
never twice and never with other bytes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from reliability.outcome import Outcome

__all__ = ["NOT_FOUND", "Held", "KeyLedger", "classify"]

NOT_FOUND = "one or more keys specified are not found on KME"


@dataclass(frozen=True)
class Held:
    """A key a master SAE received: its bytes and who may retrieve it where."""

    material: str
    master: str
    slave: str
    slave_kme: str


@dataclass
class KeyLedger:
    """Keys handed out so far, shared by the traffic threads of a campaign."""

    delivered: dict[str, Held] = field(default_factory=dict)
    fetched: dict[str, str] = field(default_factory=dict)
    in_doubt: set[str] = field(default_factory=set)
    materials: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def delivered_to_master(self, outcome: Outcome, keys: list[dict[str, str]], held: Held) -> None:
        """Check and remember the keys of one enc_keys answer."""
        with self.lock:
            for key in keys:
                if key["key_ID"] in self.delivered:
                    outcome.violate("a key_ID was delivered to a master twice")
                if key["key"] in self.materials:
                    outcome.violate("the same key material was delivered under two key_IDs")
                self.delivered[key["key_ID"]] = Held(key["key"], held.master, held.slave, held.slave_kme)
                self.materials.add(key["key"])

    def pending(self, slave_kme: str | None = None, limit: int = 4) -> list[str]:
        """Key_IDs the master holds that the slave has not retrieved yet (oldest first)."""
        with self.lock:
            found = []
            for key_id, held in self.delivered.items():
                if key_id in self.fetched or key_id in self.in_doubt:
                    continue
                if slave_kme is None or held.slave_kme == slave_kme:
                    found.append(key_id)
                    if len(found) == limit:
                        break
            self.in_doubt.update(found)
            return found

    def retrieved(self, outcome: Outcome, keys: list[dict[str, str]]) -> None:
        """Check a dec_keys answer: the master's bytes, and never a second time."""
        with self.lock:
            for key in keys:
                held = self.delivered.get(key["key_ID"])
                if held is None:
                    outcome.violate("a slave retrieved a key_ID no master was given")
                elif held.material != key["key"]:
                    outcome.violate("a slave retrieved other bytes than its master got")
                if key["key_ID"] in self.fetched:
                    outcome.violate("a slave retrieved the same key twice")
                self.fetched[key["key_ID"]] = key["key"]
                self.in_doubt.discard(key["key_ID"])

    def settled(self, key_ids: list[str]) -> None:
        """The answer for ``key_ids`` came back (whatever it said): they are no longer in doubt."""
        with self.lock:
            self.in_doubt.difference_update(key_ids)

    def sweep(
        self,
        outcome: Outcome,
        fetch: Callable[[Held, list[str]], httpx.Response],
        *,
        deadline_s: float = 120.0,
        batch: int = 16,
        retrieved_sample: int = 200,
    ) -> None:
        """At the end: every key the master holds is retrievable once, a retrieved one never again.

        ``fetch(held, key_ids)`` asks the slave's KME for keys that share ``held``'s master and slave.
        Keys never retrieved are asked for in batches (dec_keys is all or nothing, so a refused batch is
        asked for again key by key); in-doubt keys and up to ``retrieved_sample`` retrieved ones (the
        first ones, so the earliest, most often killed stretch of the run is covered) one at a time.
        """
        stop = time.monotonic() + deadline_s
        groups: dict[tuple[str, str], list[str]] = {}
        for key_id, held in self.delivered.items():
            if key_id not in self.fetched and key_id not in self.in_doubt:
                groups.setdefault((held.master, held.slave), []).append(key_id)
        single = [k for k in self.delivered if k in self.in_doubt]
        single += [k for k in self.delivered if k in self.fetched][:retrieved_sample]
        for key_ids in groups.values():
            for first in range(0, len(key_ids), batch):
                chunk = key_ids[first : first + batch]
                got = _until_answered(lambda c=chunk: fetch(self.delivered[c[0]], c), stop)  # type: ignore[misc]
                if got is not None and got.status_code == 200:
                    self._check_batch(outcome, got.json()["keys"])
                else:
                    single.extend(chunk)
        for key_id in single:
            held = self.delivered[key_id]
            got = _until_answered(lambda k=key_id, h=held: fetch(h, [k]), stop)  # type: ignore[misc]
            self._check_one(outcome, key_id, held, got)

    def _check_batch(self, outcome: Outcome, keys: list[dict[str, str]]) -> None:
        for key in keys:
            if self.delivered[key["key_ID"]].material != key["key"]:
                outcome.violate("a slave retrieved other bytes than its master got")

    def _check_one(self, outcome: Outcome, key_id: str, held: Held, got: httpx.Response | None) -> None:
        if got is None:
            outcome.violate("the slave's KME never answered for a key its master holds")
        elif key_id in self.fetched:
            if got.status_code != 400 or got.json().get("message") != NOT_FOUND:
                outcome.violate("a key already retrieved by its slave was served again")
        elif got.status_code == 200:
            if got.json()["keys"][0]["key"] != held.material:
                outcome.violate("a slave retrieved other bytes than its master got")
        elif key_id in self.in_doubt and got.status_code == 400:
            return  # served once to an answer lost in a kill
        else:
            outcome.violate(f"a key its master holds is not retrievable: HTTP {got.status_code}")


def _until_answered(call: Callable[[], httpx.Response], stop: float) -> httpx.Response | None:
    while time.monotonic() < stop:
        try:
            got = call()
        except httpx.TransportError:
            time.sleep(0.2)
            continue
        if got.status_code != 503:
            return got
        time.sleep(0.2)
    return None


def classify(outcome: Outcome, response: httpx.Response, what: str) -> bool:
    """Count a non-200 answer by kind; a server error other than the standard's 503 is a violation."""
    status = response.status_code
    if status == 200:
        return True
    if status >= 500 and status != 503:
        outcome.violate(f"HTTP {status} on {what}")
    message = ""
    try:
        message = str(response.json().get("message", ""))
    except ValueError:
        outcome.violate(f"HTTP {status} without the ETSI error body on {what}")
    kind = f"{what} {status} {_reason(message)}".strip()
    outcome.errors[kind] += 1
    outcome.examples.setdefault(kind, message[:300])
    return False


def _reason(message: str) -> str:
    """A short, stable kind for an error message (no IDs or numbers)."""
    lowered = message.lower()
    for words, kind in (
        ("not enough key", "(not enough key)"),
        ("unreachable", "(peer unreachable)"),
        ("not reachable", "(peer unreachable)"),
        ("cannot confirm", "(peer unreachable)"),
        ("no route", "(no route)"),
        ("could not be relayed", "(relay failed)"),
        ("not found", "(not found)"),
    ):
        if words in lowered:
            return kind
    return "(other)"
