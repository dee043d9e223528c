"""The pieces of the network demonstration: relayed keys between two SAEs, and what every link made and spent.

``openqci demo`` launches a scenario, watches its links make key, then has a master SAE ask its KME for
keys for a slave SAE several trusted nodes away over ETSI GS QKD 014 (mutual TLS), has the slave retrieve
them from its own KME, and reports the route, the latency and the key made and consumed on every link.
These functions do the work; the command only displays it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from openqci.network.controller_client import ControllerClient
from openqci.network.errors import LaunchError
from openqci.network.statedir import StateDir, read_state
from openqci.services.sae_client import SaeClient, SaeClientError

__all__ = ["LinkKey", "RelayedKey", "link_key", "relay_keys"]


@dataclass(frozen=True)
class RelayedKey:
    """One key relayed from the master SAE to the slave SAE: route, times taken, and whether it matched."""

    key_id: str
    route: tuple[str, ...]
    latency_s: float
    retrieved_s: float
    matched: bool


@dataclass(frozen=True)
class LinkKey:
    """Key a link has made and consumed so far, as its first end's site process reported it."""

    link: str
    made_bits: int
    consumed_bits: int


def relay_keys(
    state_dir: Path,
    *,
    master: str,
    master_kme: str,
    slave: str,
    slave_kme: str,
    number: int,
    size_bits: int = 256,
) -> list[RelayedKey]:
    """Have ``master`` get ``number`` keys for ``slave`` (one request each) and ``slave`` retrieve them.

    Raises
    ------
    LaunchError
        If a request fails; the message is the KME's (for a relay, which hop failed and why).
    """
    layout = StateDir(state_dir.resolve())
    urls = read_state(layout).kme_urls
    found = []
    options = {"timeout_s": 60.0, "attempts": 1}
    try:
        with (
            SaeClient.from_pki(layout.pki_dir, master, urls[master_kme], **options) as ask,
            SaeClient.from_pki(layout.pki_dir, slave, urls[slave_kme], **options) as take,
        ):
            for _ in range(number):
                started = time.perf_counter()
                got = ask.enc_keys(slave, number=1, size_bits=size_bits)
                latency_s = time.perf_counter() - started
                started = time.perf_counter()
                back = take.dec_keys(master, [got.keys[0].key_id])
                retrieved_s = time.perf_counter() - started
                route = tuple(got.extension.get("qci_routes", {}).get(slave_kme, (master_kme, slave_kme)))
                key_id = str(got.keys[0].key_id)
                found.append(RelayedKey(key_id, route, latency_s, retrieved_s, back.keys == got.keys))
    except SaeClientError as error:
        raise LaunchError(str(error)) from None
    return found


def link_key(state_dir: Path, links: dict[str, tuple[str, str]], *, wait_s: float = 15.0) -> list[LinkKey]:
    """Key made and consumed on each of ``links`` (name to its two KMEs), as the first end last reported.

    The figures come from the controller, which each site process tells once per tick; the call waits
    until every first end has reported after the call began, so what it returns is no older than the call.
    """
    layout = StateDir(state_dir.resolve())
    asked_at = datetime.now(UTC)
    deadline = time.monotonic() + wait_s
    with ControllerClient.from_state_dir(layout) as controller:
        while True:
            document = controller.state()
            reported = {n["qkdn_id"]: n["reported_at"] for n in document["nodes"]}
            ends = {name: pair[0] for name, pair in links.items()}
            if all(_after(reported.get(end), asked_at) for end in ends.values()):
                break
            if time.monotonic() > deadline:
                stale = sorted(end for end in ends.values() if not _after(reported.get(end), asked_at))
                raise LaunchError(f"no fresh report from {', '.join(stale)} within {wait_s:g} s")
            time.sleep(0.2)
    by_link = {link["qkdl_id"]: link for link in document["links"]}
    return [
        LinkKey(
            name,
            by_link[name]["made_key_bits_by_end"].get(end, 0),
            by_link[name]["consumed_key_bits_by_end"].get(end, 0),
        )
        for name, end in ends.items()
    ]


def _after(stamp: str | None, moment: datetime) -> bool:
    return stamp is not None and datetime.fromisoformat(stamp) > moment
