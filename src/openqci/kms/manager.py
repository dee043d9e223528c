"""The key manager: what a KME does for each ETSI 014 call and each message from a peer KME.

An enc_keys request is one local transaction: the units are taken from this KME's half of the link's pool
(each end allocates only its own half, so the ends never compete for a unit), read, wiped, and written as a
delivery record to the outbox, and the keys go to the master SAE once that transaction is committed. The
peer KME learns of the record in two ways. The outbox is pushed to it in batches in the background
(:class:`openqci.kms.outbox.OutboxPusher`); and when a slave SAE asks the peer for a key_ID it does not
know yet, the peer pulls the record from this KME before answering. So a key the master holds is always
retrievable at the slave's KME, even if a push was lost in a crash; if the owning KME cannot be reached the
slave gets 503, never a wrong key. Store calls from the event loop go through a
:class:`openqci.kms.committer.GroupCommitter`, which commits concurrent requests together.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from openqci.keysource import KeyBlock, KeySource, SourceState
from openqci.kms.committer import GroupCommitter
from openqci.kms.config import Limits
from openqci.kms.errors import (
    BadRequestError,
    KeysNotFoundError,
    PeerError,
    PoolFullError,
    UnauthorizedError,
)
from openqci.kms.outbox import OutboxPusher
from openqci.kms.peer import PeerClient
from openqci.kms.records import DeliveredKey, KeyDelivery, Reservation
from openqci.kms.relay import KeyRelay, RelayOptions
from openqci.kms.requests import (
    check_additional_slaves,
    check_extensions,
    check_key_ids,
    check_number,
    check_sae_id,
    check_size,
)
from openqci.kms.retention import Pruner, RetentionPolicy
from openqci.kms.store import KeyStore
from openqci.kms.units import owned_parity, pool_cap_units, units_per_key

__all__ = ["KeyManager", "PeerLink", "PoolStatus"]


@dataclass(frozen=True)
class PeerLink:
    """A peer KME, the link this KME shares with it, the SAEs it serves and the client that reaches it."""

    kme_id: str
    link_id: str
    saes: frozenset[str]
    client: PeerClient


@dataclass(frozen=True)
class PoolStatus:
    """What Status reports for a master/slave pair (GS QKD 014 Table 9), before it goes on the wire."""

    source_kme_id: str
    target_kme_id: str
    stored_key_count: int
    limits: Limits
    link_id: str | None = None
    link_state: SourceState | None = None
    """The state of the link's key source, where one is attached (:meth:`KeyManager.attach_source`)."""


@dataclass(frozen=True)
class _NotYetHere:
    """A refused dec_keys request and the key_IDs in it that the master's KME may know."""

    error: KeysNotFoundError
    awaited: list[uuid.UUID]


class KeyManager:
    """Serves the ETSI 014 calls of local SAEs and the agreement calls of peer KMEs over one store."""

    def __init__(
        self,
        kme_id: str,
        store: KeyStore,
        peers: Sequence[PeerLink],
        *,
        local_saes: frozenset[str],
        limits: Limits,
        unit_bits: int,
        relay: RelayOptions | None = None,
        retention: RetentionPolicy | None = None,
    ) -> None:
        self.kme_id = kme_id
        self.limits = limits
        self.max_free_units = pool_cap_units(limits.max_key_count, limits.key_size, unit_bits)
        """A link end takes no new block while the link's free units here (both halves) reach this."""
        self.local_saes = local_saes
        self._store = store
        self._unit_bits = unit_bits
        self._committer = GroupCommitter(store)
        self._by_sae: dict[str, PeerLink] = {sae: p for p in peers for sae in p.saes}
        self._by_kme: dict[str, PeerLink] = {p.kme_id: p for p in peers}
        self._by_link: dict[str, PeerLink] = {p.link_id: p for p in peers}
        self._sources: dict[str, KeySource] = {}
        self._pushers = {p.link_id: OutboxPusher(p.link_id, p.client, self._committer) for p in peers}
        neighbours = [(p.kme_id, p.link_id, p.saes, p.client) for p in peers]
        self.relay = None
        if relay is not None:
            self.relay = KeyRelay(kme_id, self._committer, neighbours, relay, local_saes=local_saes)
        self.pruner = Pruner(store, self._committer, retention or RetentionPolicy())

    # -- key supply and life cycle ----------------------------------------------------------------------

    def add_block(self, block: KeyBlock) -> int:
        """Store a KeyBlock from the link shared with a peer; return the units added.

        Raises PoolFullError, storing nothing, while the link's pool here holds ``max_key_count`` keys of
        each half (:attr:`max_free_units`): the source must hold the block and offer it again later.
        """
        peer = self._by_link.get(block.link_id)
        if peer is None:
            raise BadRequestError(f"link {block.link_id!r} is not configured; known: {sorted(self._by_link)}")
        parity = owned_parity(self.kme_id, peer.kme_id)
        return self._store.add_block(
            block, unit_bits=self._unit_bits, parity=parity, max_free_units=self.max_free_units
        )

    async def store_blocks(self, blocks: Sequence[KeyBlock]) -> int:
        """Store ``blocks`` in order in one commit of the group committer; return how many were taken.

        A source that falls behind (a site started late, a catch-up after a pause) hands over many blocks
        at once: one durable commit for all of them, instead of one each, and no request of the KME waits
        on the store lock meanwhile. The first block refused because the pool is full
        (:class:`PoolFullError`) stops the run, so the count tells the source which block to hold.
        """
        return await self._committer.call(self._add_in_order, list(blocks))

    def _add_in_order(self, blocks: list[KeyBlock]) -> int:
        for taken, block in enumerate(blocks):
            try:
                self.add_block(block)
            except PoolFullError:
                return taken
        return len(blocks)

    def attach_source(self, source: KeySource) -> None:
        """Report ``source``'s state of its link in Get status (the source feeds the link itself)."""
        if source.link_id not in self._by_link:
            raise BadRequestError(f"link {source.link_id!r} is not configured at {self.kme_id}")
        self._sources[source.link_id] = source

    def link_state(self, link_id: str) -> SourceState | None:
        """The state of ``link_id`` as its attached key source sees it (None without one)."""
        source = self._sources.get(link_id)
        return None if source is None else source.state()

    @property
    def committer(self) -> GroupCommitter:
        """The group committer every store call of this KME goes through."""
        return self._committer

    def start(self) -> None:
        """Start pushing delivery records to the peers (those of an earlier run first) and pruning."""
        for pusher in self._pushers.values():
            pusher.start()
        self.pruner.start()

    async def aclose(self) -> None:
        """Stop the pushers and pruner, close the peer clients, finish the queued calls, close the store."""
        await self.pruner.stop()
        for pusher in self._pushers.values():
            await pusher.stop()
        for peer in self._by_kme.values():
            await peer.client.aclose()
        if self.relay is not None:
            await self.relay.aclose()
        await asyncio.to_thread(self._committer.close)
        self._store.close()

    # -- ETSI GS QKD 014 --------------------------------------------------------------------------------

    async def status(self, caller: str, slave: str) -> PoolStatus:
        """Report the pool serving ``caller`` (master) and ``slave``.

        For a slave behind a KME that is not a neighbour, the count is what the first hop of the current
        route could carry (0 when there is no route).
        """
        peer = self._peer_for(caller, slave)
        if peer is None:
            assert self.relay is not None
            target = self.relay.kme_of(slave) or ""
            relayable = await self.relay.available_keys(target, self.limits.key_size)
            return PoolStatus(self.kme_id, target, min(relayable, self.limits.max_key_count), self.limits)
        units = await self._committer.call(self._store.available_units, peer.link_id)
        count = min(units // units_per_key(self.limits.key_size, self._unit_bits), self.limits.max_key_count)
        state = self.link_state(peer.link_id)
        return PoolStatus(self.kme_id, peer.kme_id, count, self.limits, peer.link_id, state)

    async def enc_keys(
        self,
        caller: str,
        slave: str,
        *,
        number: int | None = None,
        size: int | None = None,
        additional_slaves: Sequence[str] | None = None,
        extension_mandatory: Sequence[dict[str, Any]] | None = None,
    ) -> KeyDelivery:
        """Get key (clause 5.2): new keys for ``caller``, retrievable once by each slave at its KME.

        Slaves all behind one neighbour get keys from the shared link directly; any other slave (behind
        a KME further away, or additional slaves behind several KMEs) gets them through relay.
        """
        peer = self._peer_for(caller, slave)
        count, size_bits = check_number(number, self.limits), check_size(size, self.limits)
        extra = check_additional_slaves(additional_slaves, caller, slave, self.limits)
        check_extensions(extension_mandatory)
        if peer is None or any(sae not in peer.saes for sae in extra):
            return await self._relayed(caller, [slave, *extra], count, size_bits)
        _, keys = await self._committer.call(
            self._store.deliver,
            request_id=uuid.uuid4(),
            link_id=peer.link_id,
            master_sae=caller,
            slave_saes=[slave, *extra],
            number=count,
            size_bits=size_bits,
            unit_bits=self._unit_bits,
        )
        self._pushers[peer.link_id].notify()
        return KeyDelivery(keys)

    async def dec_keys(self, caller: str, master: str, key_ids: Sequence[str]) -> list[DeliveredKey]:
        """Get key with key IDs (clause 5.3): the keys ``master`` received, for ``caller``, once.

        A key_ID this KME does not know yet, naming a free unit the peer allocates, may have been delivered
        by the peer a moment ago: its record is pulled from the peer before the request is refused.
        """
        check_sae_id(master, "master_SAE_ID")
        ids = check_key_ids(key_ids, self.limits)
        first = await self._committer.call(self._take_or_find_awaited, ids, master, caller)
        if isinstance(first, list):
            return first
        if not first.awaited or not await self._pull(master, first.awaited):
            raise first.error
        return await self._committer.call(self._store.take, ids, master_sae=master, caller=caller)

    # -- peer KMEs --------------------------------------------------------------------------------------

    async def accept_from_peer(self, peer_kme: str, records: Sequence[Reservation]) -> list[uuid.UUID]:
        """Bind a peer's delivery records here (one store call, one savepoint per record).

        Returns the request IDs now held durably; a record refused (units not free, SAEs not ours) is left
        out and rolls back alone.
        """
        peer = self._peer_named(peer_kme)
        return await self._committer.call(self._accept_all, peer, records)

    async def records_for_peer(self, peer_kme: str, key_ids: Sequence[uuid.UUID]) -> list[Reservation]:
        """Return the delivery records on the link shared with ``peer_kme`` that hold ``key_ids``."""
        peer = self._peer_named(peer_kme)
        return await self._committer.call(self._store.lookup, peer.link_id, key_ids)

    # -- private ----------------------------------------------------------------------------------------

    def _peer_for(self, caller: str, slave: str) -> PeerLink | None:
        """The neighbour serving ``slave``, or None for an SAE reached by relay; 400 for an unknown SAE."""
        check_sae_id(slave, "slave_SAE_ID")
        if slave == caller:
            raise BadRequestError("the slave SAE must differ from the master SAE (the caller)")
        peer = self._by_sae.get(slave)
        if peer is None and (self.relay is None or self.relay.kme_of(slave) is None):
            raise BadRequestError(f"SAE {slave!r} is not served by any KME known to {self.kme_id}")
        return peer

    async def _relayed(self, caller: str, slaves: list[str], number: int, size_bits: int) -> KeyDelivery:
        strangers = [s for s in slaves if self.relay is None or self.relay.kme_of(s) is None]
        if self.relay is None or strangers:
            raise BadRequestError(
                f"slave SAEs {strangers or slaves} cannot be reached from {self.kme_id}",
                [{"SAE_ID": s} for s in strangers or slaves],
            )
        relayed = await self.relay.enc_keys(caller, slaves, number=number, size_bits=size_bits)
        routes = {kme: list(route.kmes) for kme, route in relayed.routes.items()}
        return KeyDelivery(relayed.keys, {"qci_route_type": "indirect", "qci_routes": routes})

    def _peer_named(self, peer_kme: str) -> PeerLink:
        peer = self._by_kme.get(peer_kme)
        if peer is None:
            raise UnauthorizedError(f"KME {peer_kme!r} is not a peer of {self.kme_id}")
        return peer

    def _accept_all(self, peer: PeerLink, records: Sequence[Reservation]) -> list[uuid.UUID]:
        accepted = []
        for record in records:
            try:
                self._accept_one(peer, record)
            except (BadRequestError, PeerError):
                continue
            accepted.append(record.request_id)
        return accepted

    def _accept_one(self, peer: PeerLink, record: Reservation) -> None:
        """Check that ``peer`` owns the record's link and master SAE and the slaves are ours, then bind it."""
        if peer.link_id != record.link_id:
            raise UnauthorizedError(
                f"KME {peer.kme_id!r} shares no link {record.link_id!r} with {self.kme_id}"
            )
        if record.master_sae not in peer.saes:
            raise BadRequestError(f"SAE {record.master_sae!r} is not served by {peer.kme_id}")
        if not set(record.slave_saes) <= self.local_saes:
            raise BadRequestError(
                f"slave SAEs {sorted(set(record.slave_saes) - self.local_saes)} are not served here"
            )
        self._store.accept(record)

    def _take_or_find_awaited(
        self, ids: list[uuid.UUID], master: str, caller: str
    ) -> list[DeliveredKey] | _NotYetHere:
        """Take the keys, or say which unknown ones the master's KME may have delivered (one store call).

        Both steps run in one call of the group committer, so a push landing in between cannot make a
        delivered key look unknown.
        """
        try:
            return self._store.take(ids, master_sae=master, caller=caller)
        except KeysNotFoundError as error:
            awaited = self._store.awaiting(ids) if master in self._by_sae else []
            return _NotYetHere(error, awaited)

    async def _pull(self, master: str, waiting: list[uuid.UUID]) -> bool:
        """Fetch the records of ``waiting`` key_IDs from the master's KME; True if any was bound here."""
        peer = self._by_sae[master]
        try:
            records = await peer.client.pull(waiting)
        except PeerError as error:
            raise PeerError(
                f"key_IDs {[str(k) for k in waiting]} may have been delivered by {peer.kme_id}, which cannot "
                "confirm them now; ask again later",
                [{"KME_ID": peer.kme_id, "reason": error.message}],
            ) from None
        return bool(await self.accept_from_peer(peer.kme_id, records))
