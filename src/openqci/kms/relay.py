"""Key relay: keys for SAEs behind KMEs that share no link, carried hop by hop through trusted nodes.

Modelled on ETSI GS QKD 020 (extended keys, acknowledgement, voiding) over the trusted-node relay of the
ITU-T Y.3800 family. When a master SAE asks its KME (the source) for keys for a slave SAE of a KME that is
not a neighbour, or for additional slaves behind other KMEs:

1. the source asks its :class:`~openqci.kms.route_provider.RouteProvider` for a route to each destination
   KME whose every hop holds the link key the relay consumes (:func:`~openqci.kms.relay_ledger.hop_key_bits`);
2. it draws the keys (``os.urandom``) and sends them over the first hop, one-time-pad encrypted with fresh
   link key and authenticated with a one-time Poly1305 tag (:mod:`openqci.kms.relay_crypto`);
3. each trusted node consumes its copies of those units, checks the tag, decrypts, re-encrypts with fresh
   key of the next link and forwards, in one transaction per hop
   (:class:`~openqci.kms.relay_ledger.RelayLedger`);
4. the destination stores the keys for the slave SAEs durably and acknowledges; the acknowledgement travels
   back as the answer to each hop's request;
5. the source answers its master SAE only once every destination has acknowledged. A failed hop (no key,
   a KME that does not answer, a tag that does not verify) is voided along the route (the destination wipes
   what it stored) and the source asks for another route avoiding that link, up to ``max_routes`` times;
   then the master gets 503 with every reason.

So a key the master holds is stored at the destination, durably and once: the destination acknowledged
after its commit, a voided relay is refused from then on, and a repeated hop message gets the first
answer without consuming more key. Keys the master never received may be left at a destination when a
void cannot reach it; their key_IDs are random and were never handed out.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from openqci.kms.api.relay_models import AckStatus, HopMessage, RelayAck, VoidMessage
from openqci.kms.committer import GroupCommitter
from openqci.kms.errors import (
    BadRequestError,
    KeyShortageError,
    PeerError,
    RelayError,
    RouteUnavailableError,
    UnauthorizedError,
)
from openqci.kms.peer import PeerClient
from openqci.kms.records import DeliveredKey
from openqci.kms.relay_ledger import RelayLedger, hop_key_bits
from openqci.kms.route_provider import RelayRoute, RouteProvider
from openqci.ops.events import Event, log_event

__all__ = ["KeyRelay", "RelayOptions", "RelayedKeys"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RelayOptions:
    """What a KME needs to relay: its ledger, a route provider, and which KME serves each remote SAE."""

    ledger: RelayLedger
    routes: RouteProvider
    remote_saes: Mapping[str, str]
    """SAE ID to KME ID, for the SAEs of KMEs that are not neighbours."""
    max_routes: int = 3
    hop_timeout_s: float = 5.0
    observe: Callable[[float, bool], None] | None = None
    """Told the seconds each relay to a destination took and whether it succeeded (the KME's metrics)."""


@dataclass(frozen=True)
class RelayedKeys:
    """Keys delivered to a master SAE through relay, and the route taken to each destination KME."""

    keys: list[DeliveredKey]
    routes: dict[str, RelayRoute]


@dataclass(frozen=True)
class _Neighbour:
    kme_id: str
    link_id: str
    saes: frozenset[str]
    client: PeerClient


class KeyRelay:
    """The relay side of one KME: source of relays for its master SAEs, trusted node and destination."""

    def __init__(
        self,
        kme_id: str,
        committer: GroupCommitter,
        neighbours: Sequence[tuple[str, str, frozenset[str], PeerClient]],
        options: RelayOptions,
        *,
        local_saes: frozenset[str],
    ) -> None:
        self.kme_id = kme_id
        self.local_saes = local_saes
        self._committer = committer
        self._ledger = options.ledger
        self._routes = options.routes
        self._max_routes = options.max_routes
        self._hop_timeout_s = options.hop_timeout_s
        self._observe = options.observe
        self._peers = {kme: _Neighbour(kme, link, saes, client) for kme, link, saes, client in neighbours}
        self._kme_of = dict(options.remote_saes) | {s: p.kme_id for p in self._peers.values() for s in p.saes}

    def kme_of(self, sae: str) -> str | None:
        """The KME serving ``sae``, if this KME can relay to it."""
        return self._kme_of.get(sae)

    # -- the source -------------------------------------------------------------------------------------

    async def enc_keys(
        self, master: str, slaves: Sequence[str], *, number: int, size_bits: int
    ) -> RelayedKeys:
        """Draw ``number`` keys and relay them to the KME of every slave; return them once all acknowledged.

        Raises
        ------
        RelayError
            (HTTP 503) When a destination could not be reached on any route; keys relayed to other
            destinations of the same request are voided first.
        """
        destinations: dict[str, list[str]] = {}
        for sae in slaves:
            kme = self.kme_of(sae)
            if kme is None:
                raise BadRequestError(f"SAE {sae!r} is not served by any KME known to {self.kme_id}")
            destinations.setdefault(kme, []).append(sae)
        keys = [DeliveredKey(uuid.uuid4(), os.urandom(size_bits // 8)) for _ in range(number)]
        done: dict[str, tuple[RelayRoute, uuid.UUID]] = {}
        try:
            for kme, saes in destinations.items():
                done[kme] = await self._deliver(kme, master, saes, keys)
        except RelayError:
            for route, relay_id in done.values():
                await self._void(route.kmes, relay_id, hop=0)
            raise
        return RelayedKeys(keys, {kme: route for kme, (route, _) in done.items()})

    async def available_keys(self, destination: str, size_bits: int) -> int:
        """Keys of ``size_bits`` this KME could relay to ``destination`` now, judged by its first hop."""
        per_key = hop_key_bits(size_bits, 1, self._ledger.unit_bits)
        try:
            route = await self._routes.route(self.kme_id, destination, per_key)
        except RouteUnavailableError:
            return 0
        first = self._peers.get(route.kmes[1]) if route.hops else None
        if first is None:
            return 0
        units = await self._committer.call(self._ledger.available_units, first.link_id)
        return units * self._ledger.unit_bits // per_key

    async def aclose(self) -> None:
        """Release the route provider's connections."""
        await self._routes.aclose()

    # -- a trusted node or the destination ---------------------------------------------------------------

    async def receive_hop(self, peer_kme: str, message: HopMessage) -> RelayAck:
        """Take in a hop from ``peer_kme``: store or forward the keys; return the acknowledgement."""
        self._check_hop(peer_kme, message.route, message.hop, message.link_id)
        at_end = message.hop + 2 == len(message.route)
        following = None if at_end else self._peers.get(message.route[message.hop + 2])
        if not at_end and following is None:
            return _failure(
                message, None, f"{message.route[message.hop + 2]} is not a neighbour of {self.kme_id}"
            )
        if at_end and self.kme_of(message.master_SAE_ID) not in (message.route[0], None):
            return _failure(
                message, None, f"SAE {message.master_SAE_ID!r} is not served by {message.route[0]}"
            )
        outcome = await self._committer.call(
            self._ledger.receive,
            message,
            next_link=None if following is None else following.link_id,
            local_saes=self.local_saes,
        )
        if outcome.ack is not None:
            return outcome.ack
        assert outcome.forward is not None
        assert following is not None
        ack = await self._send(following, outcome.forward)
        await self._committer.call(self._ledger.finish, message.relay_id, ack)
        return ack

    async def receive_void(self, peer_kme: str, message: VoidMessage) -> None:
        """Void a relay here (wiping keys stored for it) and pass the void on along its route."""
        self._check_hop(peer_kme, message.route, message.hop, None)
        await self._committer.call(self._ledger.void, message.relay_id)
        if message.hop + 2 < len(message.route):
            await self._void(message.route, message.relay_id, hop=message.hop + 1)

    # -- private ----------------------------------------------------------------------------------------

    async def _deliver(
        self, destination: str, master: str, slaves: list[str], keys: list[DeliveredKey]
    ) -> tuple[RelayRoute, uuid.UUID]:
        """Relay ``keys`` to ``destination``, on another route after each failed hop."""
        key_bits = hop_key_bits(8 * len(keys[0].material), len(keys), self._ledger.unit_bits)
        avoid: list[str] = []
        failures: list[str] = []
        started = time.perf_counter()
        for _ in range(self._max_routes):
            try:
                route = await self._routes.route(self.kme_id, destination, key_bits, avoid=avoid)
            except RouteUnavailableError as error:
                failures.append(error.message)
                break
            relay_id = uuid.uuid4()
            ack = await self._attempt(relay_id, route, master, slaves, keys)
            if ack.status is AckStatus.RELAYED:
                self._routed(route, relay_id, time.perf_counter() - started, len(keys))
                return route, relay_id
            _log.info("relay %s to %s failed on %s: %s", relay_id, destination, ack.link_id, ack.message)
            await self._void(route.kmes, relay_id, hop=0)
            failures.append(f"relay over {' > '.join(route.kmes)} failed: {ack.message}")
            if ack.link_id is None or ack.link_id in avoid:
                break
            avoid.append(ack.link_id)
        why = f"no key could be relayed from {self.kme_id} to {destination}: {'; '.join(failures)}"
        if self._observe is not None:
            self._observe(time.perf_counter() - started, False)
        log_event(
            _log,
            Event.RELAY_FAILED,
            why,
            level=logging.WARNING,
            kme=self.kme_id,
            destination=destination,
            avoided_links=avoid,
        )
        raise RelayError(why, [{"destination_KME_ID": destination, "avoided_links": avoid}])

    def _routed(self, route: RelayRoute, relay_id: uuid.UUID, seconds: float, keys: int) -> None:
        if self._observe is not None:
            self._observe(seconds, True)
        log_event(
            _log,
            Event.RELAY_ROUTED,
            f"relay {relay_id} over {' > '.join(route.kmes)} in {seconds * 1000:.0f} ms",
            kme=self.kme_id,
            route=list(route.kmes),
            keys=keys,
            duration_ms=round(seconds * 1000, 1),
        )

    async def _attempt(
        self, relay_id: uuid.UUID, route: RelayRoute, master: str, slaves: list[str], keys: list[DeliveredKey]
    ) -> RelayAck:
        first = self._peers.get(route.kmes[1]) if route.hops and route.kmes[0] == self.kme_id else None
        if first is None:
            why = f"the route {' > '.join(route.kmes)} does not start at a neighbour of {self.kme_id}"
            return RelayAck(relay_id=relay_id, status=AckStatus.FAILED, message=why)
        try:
            message = await self._committer.call(
                self._ledger.start,
                relay_id=relay_id,
                route=route.kmes,
                link_id=first.link_id,
                master_sae=master,
                slave_saes=slaves,
                keys=keys,
            )
        except KeyShortageError as error:
            return RelayAck(
                relay_id=relay_id, status=AckStatus.FAILED, link_id=first.link_id, message=error.message
            )
        ack = await self._send(first, message)
        await self._committer.call(self._ledger.finish, relay_id, ack)
        return ack

    async def _send(self, peer: _Neighbour, message: HopMessage) -> RelayAck:
        """Send a hop (once more, unchanged, if the first try got no answer); a silent peer fails the hop."""
        timeout_s = self._hop_timeout_s * (len(message.route) - 1 - message.hop)
        error: PeerError | None = None
        for _ in range(2):
            try:
                return await peer.client.relay(message, timeout_s=timeout_s)
            except PeerError as failure:
                error = failure
        assert error is not None
        return _failure(message, message.link_id, error.message)

    async def _void(self, route: Sequence[str], relay_id: uuid.UUID, *, hop: int) -> None:
        """Send a void for ``relay_id`` to ``route[hop + 1]``; a void that cannot be delivered is logged."""
        peer = self._peers.get(route[hop + 1])
        if peer is None:
            return
        try:
            await peer.client.void(
                VoidMessage(relay_id=relay_id, route=list(route), hop=hop), timeout_s=self._hop_timeout_s
            )
        except PeerError as error:
            _log.info("void of relay %s could not reach %s: %s", relay_id, peer.kme_id, error.message)

    def _check_hop(self, peer_kme: str, route: Sequence[str], hop: int, link_id: str | None) -> None:
        """Refuse a message whose route, sender or link does not match the authenticated neighbour."""
        if len(set(route)) != len(route) or hop + 1 >= len(route):
            raise BadRequestError(f"malformed relay route {list(route)} at hop {hop}")
        peer = self._peers.get(peer_kme)
        if peer is None or route[hop] != peer_kme or route[hop + 1] != self.kme_id:
            raise UnauthorizedError(
                f"KME {peer_kme!r} may not send hop {hop} of route {list(route)} to {self.kme_id}"
            )
        if link_id is not None and link_id != peer.link_id:
            raise UnauthorizedError(
                f"KME {peer_kme!r} shares link {peer.link_id!r} with {self.kme_id}, not {link_id!r}"
            )


def _failure(message: HopMessage, link_id: str | None, why: str) -> RelayAck:
    return RelayAck(relay_id=message.relay_id, status=AckStatus.FAILED, link_id=link_id, message=why)
