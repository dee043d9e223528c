"""Mixed ETSI 014 traffic from several SAEs at once: masters ask for keys, slaves retrieve them.

Each :class:`Flow` is one master SAE asking its KME for keys for one slave SAE (directly from a shared link,
or by relay, as the KMEs' configuration decides). One thread per flow asks; one thread retrieves at the
slaves' KMEs what the masters got. Every answer goes through the :class:`~reliability.ledger.KeyLedger`.
Clients keep their connections alive and are made again after a transport error (a killed KME).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import httpx

from reliability.ledger import Held, KeyLedger, classify
from reliability.outcome import Outcome

__all__ = ["ClientFactory", "Flow", "Traffic"]

ClientFactory = Callable[[str, str], httpx.Client]
"""A client of KME ``kme`` presenting SAE ``sae``'s certificate: ``factory(kme, sae)``."""


@dataclass(frozen=True)
class Flow:
    """A master SAE at its KME asking for up to ``most`` keys at a time for a slave SAE at its KME."""

    master: str
    master_kme: str
    slave: str
    slave_kme: str
    most: int = 3
    label: str = "direct"


class Traffic:
    """Runs the flows and the retrieving thread until :meth:`stop`; ``pause_s`` paces each thread."""

    def __init__(
        self,
        outcome: Outcome,
        ledger: KeyLedger,
        flows: list[Flow],
        factory: ClientFactory,
        *,
        rng: random.Random,
        pause_s: float = 0.0,
    ) -> None:
        self.outcome, self.ledger, self.flows, self.factory = outcome, ledger, flows, factory
        self.pause_s = pause_s
        self._stop = threading.Event()
        self._seeds = [rng.randrange(1 << 30) for _ in range(len(flows) + 1)]
        self._threads = [
            threading.Thread(target=self._ask, args=(flow, random.Random(seed)), daemon=True)
            for flow, seed in zip(flows, self._seeds, strict=False)
        ]
        self._threads.append(threading.Thread(target=self._retrieve, daemon=True))
        self._outcome_lock = threading.Lock()

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _ask(self, flow: Flow, rng: random.Random) -> None:
        client = self.factory(flow.master_kme, flow.master)
        path = f"/api/v1/keys/{flow.slave}/enc_keys"
        held = Held("", flow.master, flow.slave, flow.slave_kme)
        while not self._stop.is_set():
            number = rng.randint(1, flow.most)
            method = "GET" if rng.random() < 0.2 else "POST"
            options = {"params": {"number": number}} if method == "GET" else {"json": {"number": number}}
            got = self._timed(partial(client.request, method, path, **options), f"enc_keys {flow.label}")
            if got is None:
                client.close()
                client = self.factory(flow.master_kme, flow.master)
                self._stop.wait(0.2)
            elif self._classify(got, f"enc_keys {flow.label}"):
                self.ledger.delivered_to_master(self.outcome, got.json()["keys"], held)
            self._stop.wait(self.pause_s)
        client.close()

    def _retrieve(self) -> None:
        clients: dict[tuple[str, str], httpx.Client] = {}
        while not self._stop.is_set():
            key_ids = self.ledger.pending(limit=16)
            if not key_ids:
                self._stop.wait(0.02)
                continue
            held = self.ledger.delivered[key_ids[0]]
            same = [
                k
                for k in key_ids
                if self.ledger.delivered[k].slave == held.slave
                and self.ledger.delivered[k].master == held.master
            ]
            self.ledger.settled([k for k in key_ids if k not in same])
            where = (held.slave_kme, held.slave)
            client = clients.get(where) or clients.setdefault(where, self.factory(*where))
            body = {"key_IDs": [{"key_ID": k} for k in same]}
            try:
                call = partial(client.post, f"/api/v1/keys/{held.master}/dec_keys", json=body)
                got = self._timed(call, "dec_keys")
            except httpx.ConnectError:
                self.ledger.settled(same)  # never sent: the keys are not in doubt
                clients.pop(where).close()
                self._stop.wait(0.2)
                continue
            if got is None:
                clients.pop(where).close()  # sent, but the answer was lost: the keys stay in doubt
                self._stop.wait(0.2)
                continue
            if self._classify(got, "dec_keys"):
                self.ledger.retrieved(self.outcome, got.json()["keys"])
            else:
                if got.status_code == 400:
                    self.outcome.violate("a key its master holds was not found at the slave's KME")
                self.ledger.settled(same)
            self._stop.wait(self.pause_s)
        for client in clients.values():
            client.close()

    def _timed(self, call: Callable[[], httpx.Response], what: str) -> httpx.Response | None:
        """Time one request; a transport error is counted and gives None (a ConnectError is re-raised
        from the retrieving thread's calls, which must know that nothing was sent)."""
        start = time.perf_counter()
        try:
            response = call()
        except httpx.TransportError as error:
            with self._outcome_lock:
                self.outcome.requests += 1
                self.outcome.errors[f"{what} transport ({type(error).__name__})"] += 1
            if isinstance(error, httpx.ConnectError) and what == "dec_keys":
                raise
            return None
        with self._outcome_lock:
            self.outcome.requests += 1
            self.outcome.latencies_s.append(time.perf_counter() - start)
        return response

    def _classify(self, response: httpx.Response, what: str) -> bool:
        with self._outcome_lock:
            return classify(self.outcome, response, what)
