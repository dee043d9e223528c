"""Which connection gives way at a cap: the oldest waiting one, never one being answered."""

from __future__ import annotations

from openqci.kms.connection_table import ConnectionTable, Phase


class Conn:
    def __init__(self, name: str) -> None:
        self.name = name
        self.evicted: str | None = None

    def evict(self, reason: str) -> None:
        self.evicted = reason


def test_at_the_cap_the_oldest_waiting_connection_gives_way() -> None:
    table = ConnectionTable(3, 10)
    a, b, c, d = Conn("a"), Conn("b"), Conn("c"), Conn("d")
    for conn in (a, b, c):
        assert table.admit(conn, Phase.HANDSHAKE)
    table.enter(a, Phase.BUSY)  # a is answering a request
    table.enter(b, Phase.IDLE)  # b entered its phase last, so c is now the oldest waiting one
    assert table.admit(d, Phase.HANDSHAKE)
    assert c.evicted is not None
    assert "max_connections (3)" in c.evicted
    assert (a.evicted, b.evicted) == (None, None)
    assert len(table) == 3
    assert c not in table


def test_a_newcomer_is_refused_only_when_every_connection_is_busy() -> None:
    table = ConnectionTable(2, 10)
    a, b = Conn("a"), Conn("b")
    for conn in (a, b):
        table.admit(conn, Phase.IDLE)
        table.enter(conn, Phase.BUSY)
    assert not table.admit(Conn("c"), Phase.HANDSHAKE)
    table.enter(b, Phase.IDLE)
    assert table.admit(Conn("d"), Phase.HANDSHAKE)
    assert b.evicted is not None


def test_a_certificate_over_its_cap_evicts_its_own_oldest_or_is_refused() -> None:
    table = ConnectionTable(10, 2)
    mine = [Conn(f"m{i}") for i in range(4)]
    other = Conn("other")
    table.admit(other, Phase.IDLE)
    assert table.identify(other, b"other")
    for conn in mine[:2]:
        table.admit(conn, Phase.IDLE)
        assert table.identify(conn, b"mine")
    table.admit(mine[2], Phase.HANDSHAKE)
    assert table.identify(mine[2], b"mine")
    assert mine[0].evicted is not None
    assert other.evicted is None
    table.enter(mine[1], Phase.BUSY)
    table.enter(mine[2], Phase.BUSY)
    table.admit(mine[3], Phase.HANDSHAKE)
    assert not table.identify(mine[3], b"mine")  # the two it holds are busy: refuse the third
    table.forget(mine[1])
    table.forget(mine[3])
    assert table.count() == 2
    assert table.count(Phase.BUSY) == 1
