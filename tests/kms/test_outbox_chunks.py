"""The outbox pusher splits a batch so that no push passes what a peer KME accepts as a request body."""

from __future__ import annotations

from openqci.kms.outbox import _chunks


def test_pushes_stay_under_the_byte_budget_and_keep_the_order() -> None:
    records = [bytes([65 + i % 26]) * (100 + 37 * i) for i in range(60)]
    chunks = _chunks(records, 2_000)
    assert [r for chunk in chunks for r in chunk] == records
    for chunk in chunks:
        assert len(chunk) == 1 or sum(len(r) + 1 for r in chunk) <= 2_000


def test_a_record_larger_than_the_budget_goes_alone() -> None:
    assert _chunks([b"a" * 10, b"b" * 5_000, b"c" * 10], 1_000) == [[b"a" * 10], [b"b" * 5_000], [b"c" * 10]]
