"""The key manager: what a KME does for each ETSI 014 call and each message from a peer KME.

An enc_keys request follows reserve, agree, deliver: units are reserved in the local store (one
transaction), the peer KME binds its copies of the same units to the same key IDs (one transaction
there), and only then are the keys read, wiped locally and returned to the master SAE. If the peer does
not confirm, the reservation is wiped at both ends and the SAE gets 503, so a key the master holds is
always retrievable at the slave's KME. After a crash, :meth:`KeyManager.recover` wipes every request that
was reserved but never delivered.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from openqci.kms.config import Limits
from openqci.kms.errors import BadRequestError, KmsError, PeerError, UnauthorizedError
from openqci.kms.peer import PeerClient
from openqci.kms.records import DeliveredKey, Reservation
from openqci.kms.requests import (
    check_additional_slaves,
    check_extensions,
    check_key_ids,
    check_number,
    check_sae_id,
    check_size,
)
from openqci.kms.store import KeyStore
from openqci.kms.units import owned_parity, units_per_key
from openqci.link.keyblock import KeyBlock

__all__ = ["KeyManager", "PeerLink", "PoolStatus"]

_log = logging.getLogger(__name__)


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


class KeyManager:
    """Serves the ETSI 014 calls of local SAEs and the agreement calls of peer KMEs over one store."""

    def __init__(
        self, kme_id: str, store: KeyStore, peers: Sequence[PeerLink], *, limits: Limits, unit_bits: int
    ) -> None:
        self.kme_id = kme_id
        self.limits = limits
        self._store = store
        self._unit_bits = unit_bits
        self._by_sae: dict[str, PeerLink] = {sae: p for p in peers for sae in p.saes}
        self._by_kme: dict[str, PeerLink] = {p.kme_id: p for p in peers}
        self._by_link: dict[str, PeerLink] = {p.link_id: p for p in peers}

    # -- key supply -------------------------------------------------------------------------------------

    def add_block(self, block: KeyBlock) -> int:
        """Store a KeyBlock from the link shared with a peer; return the units added."""
        peer = self._by_link.get(block.link_id)
        if peer is None:
            raise BadRequestError(f"link {block.link_id!r} is not configured; known: {sorted(self._by_link)}")
        parity = owned_parity(self.kme_id, peer.kme_id)
        return self._store.add_block(block, unit_bits=self._unit_bits, parity=parity)

    # -- ETSI GS QKD 014 --------------------------------------------------------------------------------

    def status(self, caller: str, slave: str) -> PoolStatus:
        """Report the pool serving ``caller`` (master) and ``slave``."""
        peer = self._peer_for(caller, slave)
        units = self._store.available_units(peer.link_id)
        count = min(units // units_per_key(self.limits.key_size, self._unit_bits), self.limits.max_key_count)
        return PoolStatus(self.kme_id, peer.kme_id, count, self.limits)

    async def enc_keys(
        self,
        caller: str,
        slave: str,
        *,
        number: int | None = None,
        size: int | None = None,
        additional_slaves: Sequence[str] | None = None,
        extension_mandatory: Sequence[dict[str, Any]] | None = None,
    ) -> list[DeliveredKey]:
        """Get key (clause 5.2): new keys for ``caller``, retrievable once by each slave at its KME."""
        peer = self._peer_for(caller, slave)
        count, size_bits = check_number(number, self.limits), check_size(size, self.limits)
        extra = check_additional_slaves(additional_slaves, caller, slave, self.limits)
        check_extensions(extension_mandatory)
        strangers = [sae for sae in extra if sae not in peer.saes]
        if strangers:
            raise BadRequestError(
                f"additional slave SAEs must be served by {peer.kme_id}, the slave's KME",
                [{"SAE_ID": s} for s in strangers],
            )
        reservation = self._store.reserve(
            request_id=uuid.uuid4(),
            link_id=peer.link_id,
            master_sae=caller,
            slave_saes=[slave, *extra],
            number=count,
            size_bits=size_bits,
            unit_bits=self._unit_bits,
        )
        await self._agree(peer, reservation)
        return self._store.deliver_to_master(reservation.request_id)

    def dec_keys(self, caller: str, master: str, key_ids: Sequence[str]) -> list[DeliveredKey]:
        """Get key with key IDs (clause 5.3): the keys ``master`` received, for ``caller``, once."""
        check_sae_id(master, "master_SAE_ID")
        return self._store.take(check_key_ids(key_ids), master_sae=master, caller=caller)

    # -- peer KMEs --------------------------------------------------------------------------------------

    def accept_from_peer(self, peer_kme: str, reservation: Reservation, local_saes: frozenset[str]) -> None:
        """Bind a peer's reservation here, after checking the peer owns the link and the SAEs are ours."""
        peer = self._by_kme.get(peer_kme)
        if peer is None or peer.link_id != reservation.link_id:
            raise UnauthorizedError(
                f"KME {peer_kme!r} shares no link {reservation.link_id!r} with {self.kme_id}"
            )
        if reservation.master_sae not in peer.saes:
            raise BadRequestError(f"SAE {reservation.master_sae!r} is not served by {peer_kme}")
        if not set(reservation.slave_saes) <= local_saes:
            raise BadRequestError(
                f"slave SAEs {sorted(set(reservation.slave_saes) - local_saes)} are not served here"
            )
        self._store.accept(reservation)

    def void_from_peer(self, peer_kme: str, request_id: uuid.UUID) -> int:
        """Wipe a request the peer never delivered; return the keys wiped."""
        if peer_kme not in self._by_kme:
            raise UnauthorizedError(f"KME {peer_kme!r} is not a peer of {self.kme_id}")
        return self._store.abandon(request_id)

    async def recover(self) -> int:
        """Wipe requests reserved before a crash and never delivered, here and at every peer."""
        open_requests = self._store.open_requests()
        for request_id in open_requests:
            self._store.abandon(request_id)
            for peer in self._by_kme.values():
                await _quietly(peer.client.void(request_id))
        if open_requests:
            _log.warning("recovered %d undelivered requests", len(open_requests))
        return len(open_requests)

    async def aclose(self) -> None:
        """Close the peer clients and the store."""
        for peer in self._by_kme.values():
            await peer.client.aclose()
        self._store.close()

    # -- private ----------------------------------------------------------------------------------------

    def _peer_for(self, caller: str, slave: str) -> PeerLink:
        check_sae_id(slave, "slave_SAE_ID")
        if slave == caller:
            raise BadRequestError("the slave SAE must differ from the master SAE (the caller)")
        peer = self._by_sae.get(slave)
        if peer is None:
            raise BadRequestError(f"SAE {slave!r} is not served by any peer KME of {self.kme_id}")
        return peer

    async def _agree(self, peer: PeerLink, reservation: Reservation) -> None:
        try:
            await peer.client.reserve(reservation)
        except (KmsError, asyncio.CancelledError):
            self._store.abandon(reservation.request_id)
            await _quietly(peer.client.void(reservation.request_id))
            raise


async def _quietly(call: Any) -> None:
    """Await a best-effort peer call; a peer that is down is cleaned up by its own recovery."""
    try:
        await call
    except PeerError as error:
        _log.info("best-effort peer call failed: %s", error)
