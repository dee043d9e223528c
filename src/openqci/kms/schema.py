"""The key store's tables, written once for every SQL dialect.

SQLite and PostgreSQL differ here only in three column types (an auto-increment key, binary data, a
float); the backends pass theirs, so a table or index added for one backend exists in the other.

``done_s`` (units, keys) is when a row was consumed or expired and ``created_s`` when it was written.
The retention pruner (:meth:`openqci.kms.sqlstore.SqlKeyStore.prune`) reads only what it deletes: the
oldest consumed units of each link half through ``units_free`` (whose ``state`` column already moves
with every consumption), the oldest delivery records by their key, and key and relay rows through
indexes on their times. The hot path of enc_keys (units, deliveries) gets no index of its own for this:
measured, two more indexes there cost about 60 us of CPU per request, a third more.
``link_counts`` keeps per link the counts that Status and the controller's reports ask for, changed in
the same transaction as the units they count, so reading them costs one row whatever the pool's size.
"""

from __future__ import annotations

__all__ = ["table_definitions"]

_TEMPLATE = """
CREATE TABLE IF NOT EXISTS units (
    seq {serial_key},
    unit_id TEXT NOT NULL UNIQUE,
    link_id TEXT NOT NULL,
    block_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    owned INTEGER NOT NULL,
    state INTEGER NOT NULL,
    nonce {blob} NOT NULL,
    material {blob} NOT NULL,
    key_id TEXT,
    pos INTEGER,
    delivery BIGINT,
    done_s {real}
);
CREATE INDEX IF NOT EXISTS units_free ON units (link_id, owned, state, seq);
CREATE INDEX IF NOT EXISTS units_block ON units (block_id);
CREATE INDEX IF NOT EXISTS units_key ON units (key_id);
CREATE TABLE IF NOT EXISTS keys (
    key_id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL,
    ord INTEGER NOT NULL,
    link_id TEXT NOT NULL,
    role INTEGER NOT NULL,
    master_sae TEXT NOT NULL,
    slaves TEXT NOT NULL,
    served TEXT NOT NULL,
    size_bits INTEGER NOT NULL,
    state INTEGER NOT NULL,
    created_s {real} NOT NULL,
    done_s {real}
);
CREATE INDEX IF NOT EXISTS keys_request ON keys (request_id);
CREATE INDEX IF NOT EXISTS keys_open ON keys (created_s) WHERE state <> 3;
CREATE INDEX IF NOT EXISTS keys_done ON keys (done_s) WHERE done_s IS NOT NULL;
CREATE TABLE IF NOT EXISTS deliveries (
    seq {serial_key},
    request_id TEXT NOT NULL UNIQUE,
    link_id TEXT NOT NULL,
    record {blob} NOT NULL,
    confirmed INTEGER NOT NULL,
    created_s {real} NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_outbox ON deliveries (link_id, confirmed, seq);
CREATE TABLE IF NOT EXISTS device_offers (
    seq {serial_key},
    offer_id TEXT NOT NULL UNIQUE,
    link_id TEXT NOT NULL,
    key_ids TEXT NOT NULL,
    key_bits INTEGER NOT NULL,
    nonce {blob} NOT NULL,
    material {blob} NOT NULL,
    created_s {real} NOT NULL
);
CREATE INDEX IF NOT EXISTS device_offers_link ON device_offers (link_id, seq);
CREATE TABLE IF NOT EXISTS relays (
    relay_id TEXT PRIMARY KEY,
    status INTEGER NOT NULL,
    outgoing TEXT,
    detail TEXT NOT NULL,
    created_s {real} NOT NULL
);
CREATE INDEX IF NOT EXISTS relays_created ON relays (created_s);
CREATE TABLE IF NOT EXISTS link_counts (
    link_id TEXT PRIMARY KEY,
    made BIGINT NOT NULL,
    consumed BIGINT NOT NULL,
    free BIGINT NOT NULL,
    owned_free BIGINT NOT NULL
);
"""


def table_definitions(*, serial_key: str, blob: str, real: str) -> str:
    """The ``CREATE ... IF NOT EXISTS`` statements with the dialect's column types, ``;``-separated."""
    return _TEMPLATE.format(serial_key=serial_key, blob=blob, real=real)
