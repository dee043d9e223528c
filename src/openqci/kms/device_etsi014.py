"""The ``etsi014`` key source: a QKD device that hands its key to the KME over ETSI GS QKD 014.

Each end of the link has its own device, and each KME is an SAE of its device (it talks to it with the
project's ETSI 014 client, :class:`openqci.services.SaeClient`). The end whose KME ID sorts first (the
rule that splits a link's units, :func:`openqci.kms.units.owned_parity`) is the **offering** end:

1. it asks its device for ``keys_per_request`` keys for the peer KME's SAE (enc_keys);
2. it records their IDs and material durably, sealed, as a pending offer
   (:class:`openqci.kms.device_ledger.DeviceLedger`) **before** telling anybody;
3. it offers the key IDs to the peer KME (``POST /kme/v1/device_keys``, mutual TLS);
4. the peer (the **taking** end) takes the same keys from its own device (dec_keys), stores the block
   they make and acknowledges; the offering end then stores the same block and drops the offer, in one
   transaction.

A re-offer after a crash is safe: a taking end that holds the block already acknowledges it without
asking its device; one whose device no longer knows the keys and never stored them refuses, and the
offering end wipes the offer. So both ends end up with the same block or neither has it: a key can be
lost in a crash, never duplicated or different. Every device and peer call has a timeout (``timeout_s``),
failures are retried with doubling back-off (up to ``max_backoff_s``), and no new key is taken from the
device while ``max_pending_offers`` offers wait or while an offer cannot be delivered.

A full pool (``max_key_count``) holds the key in the device, as a device expects of a full KMS: the
offering end asks its device for no new key while its own pool is full, and the taking end answers an
offer with 503 (PoolFullError) before asking its device, so the offer stays pending and is made again
later. The ends store the same blocks and see each other's deliveries within moments, so they fill up
together; an offer the peer accepted is always stored at the offering end, full or not, so both ends
hold the same pool.

A device that cannot be reached (or answers an error) turns the link down: :meth:`Etsi014Link.state`
says so with the reason, the change is logged, and Get status on the link shows it in its
``status_extension``. The taking end checks its own device with Get status every ``interval_s`` while no
offer comes, so both ends see their own device; the offering end does so when the peer cannot take an
offer, so that a dead device is named before what its death causes at the peer. When the device answers
again, key flows again.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, TypeVar

from openqci.keysource import KeyBlock, SourceState
from openqci.kms.api.device_models import MAX_OFFER_KEYS, DeviceKeysAnswer, DeviceKeysOffer
from openqci.kms.committer import GroupCommitter
from openqci.kms.config import Etsi014SourceConfig
from openqci.kms.device_ledger import UNKNOWN_QBER, DeviceLedger, DeviceOffer, device_block, device_block_id
from openqci.kms.errors import BadRequestError, DeviceError, KmsError, PoolFullError
from openqci.kms.peer import PeerClient
from openqci.kms.sqlstore import SqlKeyStore
from openqci.kms.units import owned_parity
from openqci.services.sae_client import KeyContainer, KeyStatus, SaeBadRequestError, SaeClientError

__all__ = ["DeviceClient", "Etsi014Link"]

_log = logging.getLogger(__name__)

T = TypeVar("T")

_RATE_WINDOW_S = 60.0
_FIRST_BACKOFF_S = 0.1


class DeviceClient(Protocol):
    """What the driver asks of its device: the ETSI 014 calls of an SAE (:class:`SaeClient` has them)."""

    def status(self, slave_sae_id: str) -> KeyStatus: ...

    def enc_keys(
        self,
        slave_sae_id: str,
        *,
        number: int = 1,
        size_bits: int | None = None,
        additional_slaves: Sequence[str] = (),
    ) -> KeyContainer: ...

    def dec_keys(self, master_sae_id: str, key_ids: Iterable[uuid.UUID | str]) -> KeyContainer: ...

    def close(self) -> None: ...


class _DownError(Exception):
    """The device (``device``) or the peer cannot serve now; the link is down for ``reason``."""

    def __init__(self, reason: str, *, device: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.device = device


class _UnknownKeysError(Exception):
    """The device answered 400: it does not know (or no longer knows) the keys asked for."""


class Etsi014Link:
    """One end of a link fed by a QKD device over ETSI GS QKD 014; a :class:`openqci.keysource.KeySource`.

    The driver stores the blocks itself, since storing a block is part of agreeing on it with the peer
    (both ends or neither): :meth:`blocks_due` therefore has nothing to hand over.
    """

    def __init__(
        self,
        *,
        kme_id: str,
        peer_kme_id: str,
        link_id: str,
        config: Etsi014SourceConfig,
        device: DeviceClient,
        peer: PeerClient,
        committer: GroupCommitter,
        store: SqlKeyStore,
        unit_bits: int,
        max_free_units: int | None = None,
    ) -> None:
        self.kme_id = kme_id
        self.max_free_units = max_free_units
        self.peer_kme_id = peer_kme_id
        self.config = config
        self.offering = owned_parity(kme_id, peer_kme_id) == 0
        self._link_id = link_id
        self._device = device
        self._peer = peer
        self._committer = committer
        parity = owned_parity(kme_id, peer_kme_id)
        self._ledger = DeviceLedger(
            store, link_id=link_id, unit_bits=unit_bits, parity=parity, epsilon=config.epsilon
        )
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._up = False
        self._reason = f"QKD device {config.url} not reached yet"
        self._warned = False
        self._blocks = 0
        self._recent: collections.deque[tuple[float, int]] = collections.deque()
        self._device_seen_s = 0.0
        self._store = store

    # -- KeySource -----------------------------------------------------------------------------------------

    @property
    def link_id(self) -> str:
        """The link this device feeds."""
        return self._link_id

    def blocks_due(self, now_s: float) -> Sequence[KeyBlock]:
        """Nothing: the driver stores each block itself once both ends hold it (see the class note)."""
        return ()

    def state(self) -> SourceState:
        """Up while the device (and, at the offering end, the peer) answers; the reason when down.

        The rates are the key stored over the last minute (ETSI 014 does not report the device's own
        rate, so ``skr_bps`` is that too); the QBER is unknown (0.5).
        """
        now = time.monotonic()
        self._forget_before(now - _RATE_WINDOW_S)
        rate = sum(bits for _, bits in self._recent) / _RATE_WINDOW_S
        return SourceState(self._up, UNKNOWN_QBER, rate, rate, self._blocks, self._reason)

    # -- life cycle ----------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start on the running event loop: offering (pending offers first) or watching the device."""
        if self._task is None:
            run = self._offer_forever() if self.offering else self._watch_forever()
            self._task = asyncio.get_running_loop().create_task(run, name=f"device {self._link_id}")

    async def stop(self) -> None:
        """Stop the driver and close the device connection; pending offers wait for the next start."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await asyncio.to_thread(self._device.close)

    # -- the taking end ----------------------------------------------------------------------------------

    async def take_offer(self, offer: DeviceKeysOffer) -> DeviceKeysAnswer:
        """Take the offered keys from this end's device and store their block; say whether it is held.

        Raises
        ------
        BadRequestError
            This end offers itself, or the offer's key size is not the configured one.
        DeviceError
            The device cannot be reached now (the offer is to be repeated).
        """
        if self.offering:
            raise BadRequestError(f"{self.kme_id} offers the device keys of link {self._link_id} itself")
        if offer.key_bits != self.config.key_size:
            raise BadRequestError(
                f"device keys of {offer.key_bits} bits offered on link {self._link_id}; "
                f"{self.kme_id} expects key_size {self.config.key_size}"
            )
        block_id = device_block_id(self._link_id, offer.key_ids)
        async with self._lock:
            if await self._committer.call(self._ledger.holds, block_id):
                return DeviceKeysAnswer(block_id=block_id, accepted=True)
            await self._refuse_when_full()
            try:
                container = await self._device_call(
                    "dec_keys", lambda: self._device.dec_keys(self.config.peer_sae_id, offer.key_ids), True
                )
            except _UnknownKeysError as unknown:
                if await self._committer.call(self._ledger.holds, block_id):
                    return DeviceKeysAnswer(block_id=block_id, accepted=True)
                _log.warning(
                    "link %s: keys offered by %s are lost: %s", self._link_id, self.peer_kme_id, unknown
                )
                return DeviceKeysAnswer(block_id=block_id, accepted=False, reason=str(unknown))
            except _DownError as down:
                self._mark_down(down.reason)
                raise DeviceError(down.reason) from None
            self._mark_up()
            try:
                block = self._block_of(offer, container)
            except ValueError as error:
                reason = f"the device's answer to dec_keys does not match the offer: {error}"
                _log.warning(
                    "link %s: keys offered by %s are lost: %s", self._link_id, self.peer_kme_id, reason
                )
                return DeviceKeysAnswer(block_id=block_id, accepted=False, reason=reason)
            self._stored(await self._committer.call(self._ledger.add, block), block.size_bits)
            return DeviceKeysAnswer(block_id=block_id, accepted=True)

    def _block_of(self, offer: DeviceKeysOffer, container: KeyContainer) -> KeyBlock:
        by_id = {k.key_id: k.key for k in container.keys}
        if len(container.keys) != len(offer.key_ids) or set(by_id) != set(offer.key_ids):
            raise ValueError(f"{len(container.keys)} keys returned for {len(offer.key_ids)} key IDs")
        material = b"".join(by_id[k] for k in offer.key_ids)
        return device_block(self._link_id, offer.key_ids, material, offer.key_bits, self.config.epsilon)

    async def _watch_forever(self) -> None:
        """Ask the device for its status whenever no call reached it for ``interval_s`` (with back-off)."""
        backoff_s = 0.0
        while True:
            wait_s = self.config.interval_s
            if time.monotonic() - self._device_seen_s >= self.config.interval_s:
                try:
                    await self._device_status()
                except _DownError as down:
                    self._mark_down(down.reason)
                    backoff_s = min(max(2 * backoff_s, _FIRST_BACKOFF_S), self.config.max_backoff_s)
                    wait_s = backoff_s
                else:
                    backoff_s = 0.0
                    self._mark_up()
            await asyncio.sleep(wait_s)

    # -- the offering end --------------------------------------------------------------------------------

    async def _offer_forever(self) -> None:
        backoff_s = 0.0
        while True:
            try:
                await self._offer_round()
            except _DownError as down:
                trouble = None if down.device else await self._device_trouble()
                self._mark_down(down.reason if trouble is None else f"{trouble}; {down.reason}")
                backoff_s = min(max(2 * backoff_s, _FIRST_BACKOFF_S), self.config.max_backoff_s)
                await asyncio.sleep(backoff_s)
                continue
            except KmsError as error:  # the store failed: nothing was offered or dropped
                self._mark_down(f"the key store failed: {error.message}")
                backoff_s = min(max(2 * backoff_s, _FIRST_BACKOFF_S), self.config.max_backoff_s)
                await asyncio.sleep(backoff_s)
                continue
            backoff_s = 0.0
            await asyncio.sleep(self.config.interval_s)

    async def _device_status(self) -> None:
        """Get status of this end's device (it consumes no key); raises _DownError as every device call."""
        await self._device_call("status", lambda: self._device.status(self.config.peer_sae_id))

    async def _device_trouble(self) -> str | None:
        """Why this end's own device cannot serve, or None if it answers (or answered within ``interval_s``).

        Asked when a round failed at the peer: while an offer waits for the peer, no new key is asked of
        the device, so a dead device would otherwise go unnamed, the link reported down only for what its
        death causes at the peer (whose device cannot confirm the keys this one handed out).
        """
        if time.monotonic() - self._device_seen_s < self.config.interval_s:
            return None
        try:
            await self._device_status()
        except _DownError as down:
            return down.reason
        return None

    async def _offer_round(self) -> None:
        """Settle the pending offers, then take one batch from the device and offer it."""
        cap = self.config.max_pending_offers
        for offer in await self._committer.call(self._ledger.pending, cap):
            await self._deliver(offer)
        if await self._committer.call(self._ledger.count) >= cap:
            raise _DownError(f"{cap} offers wait for {self.peer_kme_id} (max_pending_offers)")
        try:
            await self._refuse_when_full()
        except PoolFullError:
            self._mark_up()  # the link works; the key waits in the device until key is consumed here
            return
        size, number = self.config.key_size, min(self.config.keys_per_request, MAX_OFFER_KEYS)
        container = await self._device_call(
            "enc_keys", lambda: self._device.enc_keys(self.config.peer_sae_id, number=number, size_bits=size)
        )
        keys = [(k.key_id, k.key) for k in container.keys]
        if not keys or len({k for k, _ in keys}) != len(keys) or any(len(m) * 8 != size for _, m in keys):
            raise _DownError(
                f"QKD device {self.config.url} answered enc_keys with {len(keys)} keys that are not "
                f"{len(keys)} distinct keys of {size} bits; they are dropped",
                device=True,
            )
        offer = await self._committer.call(self._ledger.record, keys, size)
        await self._deliver(offer)

    async def _deliver(self, offer: DeviceOffer) -> None:
        """Offer recorded keys to the peer; store their block once it holds it, or drop them if it cannot."""
        message = DeviceKeysOffer(link_id=offer.link_id, key_ids=list(offer.key_ids), key_bits=offer.key_bits)
        try:
            answer = await self._peer.offer_device_keys(message, timeout_s=self.config.timeout_s)
        except KmsError as error:
            raise _DownError(
                f"peer KME {self.peer_kme_id} cannot take the device keys: {error.message}"
            ) from None
        if answer.block_id != offer.offer_id:
            raise _DownError(
                f"peer KME {self.peer_kme_id} names the block of offer {offer.offer_id} otherwise"
            )
        if answer.accepted:
            added = await self._committer.call(self._ledger.settle, offer.offer_id)
            self._stored(added, len(offer.key_ids) * offer.key_bits)
            self._mark_up()
            return
        await self._committer.call(self._ledger.discard, offer.offer_id)
        _log.warning(
            "link %s: %s cannot take %d device keys (%s); they are dropped at both ends",
            self._link_id,
            self.peer_kme_id,
            len(offer.key_ids),
            answer.reason,
        )

    # -- both ends ---------------------------------------------------------------------------------------

    async def _refuse_when_full(self) -> None:
        """Raise PoolFullError while this end's pool of the link holds ``max_key_count`` keys per half."""
        cap = self.max_free_units
        if cap is None:
            return
        free = await self._committer.call(self._store.free_units, self._link_id)
        if free >= cap:
            raise PoolFullError(
                f"the pool of link {self._link_id} at {self.kme_id} is full ({free} free units): "
                "the device keeps its key until key is consumed",
                [{"link_id": self._link_id, "free_units": free, "max_free_units": cap}],
            )

    async def _device_call(self, what: str, call: Callable[[], T], refusable: bool = False) -> T:
        """Run one blocking device call off the event loop (its own timeout is ``timeout_s``)."""
        try:
            result = await asyncio.wait_for(asyncio.to_thread(call), timeout=2 * self.config.timeout_s)
        except SaeBadRequestError as error:
            if refusable:
                raise _UnknownKeysError(str(error)) from None
            raise _DownError(f"QKD device {self.config.url} refused {what}: {error}", device=True) from None
        except SaeClientError as error:
            raise _DownError(f"QKD device {self.config.url} unreachable: {error}", device=True) from None
        except TimeoutError:
            raise _DownError(
                f"QKD device {self.config.url} did not answer {what} in time", device=True
            ) from None
        except (ValueError, KeyError, TypeError) as error:
            raise _DownError(
                f"QKD device {self.config.url} sent a malformed answer to {what}: {error}", device=True
            ) from None
        self._device_seen_s = time.monotonic()
        return result

    def _stored(self, units: int, bits: int) -> None:
        if units:
            self._blocks += 1
            self._recent.append((time.monotonic(), bits))

    def _forget_before(self, horizon: float) -> None:
        while self._recent and self._recent[0][0] < horizon:
            self._recent.popleft()

    def _mark_up(self) -> None:
        if not self._up:
            report = _log.warning if self._warned else _log.info
            report("link %s is up: key flows from QKD device %s", self._link_id, self.config.url)
        self._up, self._reason, self._warned = True, "", False

    def _mark_down(self, reason: str) -> None:
        if self._up or not self._warned:
            _log.warning("link %s is down: %s", self._link_id, reason)
            self._warned = True
        self._up, self._reason = False, reason

    def __repr__(self) -> str:
        role = "offering" if self.offering else "taking"
        return f"Etsi014Link({self._link_id!r}, {role}, device={self.config.url!r}, up={self._up})"
