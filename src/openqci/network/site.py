"""A site process: one or more KMEs served over mutual TLS, and the key sources that feed their stores.

The KME takes KeyBlocks only through its Python API (``manager.add_block``), so every link end is fed in
the process of the KME it feeds: one asyncio loop serves every KME of the process under uvicorn (each with
its own TLS identity, store and port), hands each model-run link end its due blocks once per tick
(:mod:`openqci.network.model_source`: both ends make identical blocks from the link's seed, neither waits
for the other), listens for the engines of engine-run links (:mod:`openqci.network.intake`), and posts
what every end sees to the controller.

Started by the launcher as ``python -m openqci.network.site --state-dir DIR --controller URL --kme NAME=FD``
(one ``--kme`` per KME; FD is a listening socket the launcher bound on 127.0.0.1 and passed down, so no
port can be taken between choosing it and serving it). SIGTERM or SIGINT stops it cleanly: the servers
finish their requests and each KME closes its store.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvicorn

from openqci.keysource import KeyBlock, SourceState
from openqci.kms.config import load_config
from openqci.kms.key_feed import Feeder
from openqci.kms.key_files import KeyFileSource
from openqci.kms.node import Kme, build_kme, open_store
from openqci.kms.server import uvicorn_config
from openqci.kms.store import KeyStore
from openqci.kms.units import owned_parity
from openqci.network.intake import IntakeServer, intake_address, intake_key
from openqci.network.link_simulator import LinkKeyStream, LinkPlan
from openqci.network.model_source import ModelKeySource
from openqci.network.report_models import LinkEndIn, NodeIn, ReportIn
from openqci.network.statedir import StateDir, read_channel_events, read_plans, read_secret
from openqci.ops.logging_args import add_logging_arguments, process_started, process_stopped, setup_logging

__all__ = ["LinkEnd", "main"]

_log = logging.getLogger("openqci.network.site")


@dataclass
class LinkEnd:
    """One end of a link in this process: the KME it feeds, and what its key source says of the link.

    A model-run end has its :class:`~openqci.network.model_source.ModelKeySource` here and is asked for
    its due blocks once per tick; an engine-run end is fed by the engine's process through its
    :class:`~openqci.network.intake.IntakeServer`, which reports the link's state with every frame.
    """

    plan: LinkPlan
    kme_id: str
    kme: Kme
    reader: KeyStore
    source: ModelKeySource | None = None
    files: KeyFileSource | None = None
    feeder: Feeder | None = None
    intake: IntakeServer | None = None
    blocks: int = 0
    state: SourceState = field(
        default_factory=lambda: SourceState(False, 0.5, 0.0, 0.0, reason="waiting for its key source")
    )

    async def add(self, block: KeyBlock) -> bool:
        """Put ``block`` in this end's KME store; True once it is committed, False if the pool is full.

        A full pool (``max_key_count``) stores nothing: the block's source must hold it and offer it again.
        """
        return await self.add_all([block]) == 1

    async def add_all(self, blocks: list[KeyBlock]) -> int:
        """Put ``blocks`` in this end's KME store in one commit; return how many it took, in order."""
        if not blocks:
            return 0
        taken = await self.kme.manager.store_blocks(blocks)
        self.blocks += taken
        return taken

    async def catch_up(self, now_s: float) -> None:
        """Hand the KME the blocks a local key source has due by ``now_s``.

        A model-run end whose pool is full stops at the first block refused and rewinds its source to it,
        so no block is skipped: it takes that block (the same as the other end's) once key is consumed.
        """
        if self.files is not None and self.feeder is not None:
            report = await asyncio.to_thread(self.feeder.once)
            self.blocks += report.files_ingested
            self.state = self.files.state()
        elif self.source is not None:
            source = self.source
            due = await asyncio.to_thread(source.blocks_due, now_s)
            taken = await self.add_all(due)
            if taken < len(due):
                source.hold(due[taken])
            self.state = source.state()
        else:
            device = self.kme.manager.link_state(self.plan.link)
            if device is not None:  # an ETSI 014 device's driver, running in the KME itself
                self.state = device

    async def report(self) -> LinkEndIn:
        """This end's view of the link for the controller."""
        units = await asyncio.to_thread(self.reader.available_units, self.plan.link)
        made, consumed = await asyncio.to_thread(self.reader.key_counts, self.plan.link)
        state = self.state
        self.kme.metrics.set_link(
            self.plan.link,
            up=state.up,
            skr_bps=state.skr_bps,
            eskr_bps=state.eskr_bps,
            qber=state.qber,
            blocks=self.blocks,
        )
        return LinkEndIn(
            qkdl_id=self.plan.link,
            qkdn_id=self.kme_id,
            skr_bps=self.state.skr_bps,
            eskr_bps=self.state.eskr_bps,
            qber=self.state.qber,
            available_key_bits=units * self.plan.unit_bits,
            blocks=self.blocks,
            up=self.state.up,
            made_key_bits=made * self.plan.unit_bits,
            consumed_key_bits=consumed * self.plan.unit_bits,
        )


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to the site process, which serves several in one loop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class _Site:
    layout: StateDir
    kmes: dict[str, Kme]
    servers: dict[str, _Server]
    sockets: dict[str, socket.socket]
    ends: list[LinkEnd]
    readers: list[KeyStore]
    stop: asyncio.Event = field(default_factory=asyncio.Event)


def _open_site(layout: StateDir, listen: dict[str, int]) -> _Site:
    plans = read_plans(layout)
    kmes = {name: build_kme(load_config(layout.kme_config(name))) for name in listen}
    sockets = {name: socket.socket(fileno=fd) for name, fd in listen.items()}
    servers = {
        name: _Server(uvicorn_config(kme, port=sockets[name].getsockname()[1], log_config=None))
        for name, kme in kmes.items()
    }
    ends: list[LinkEnd] = []
    readers: list[KeyStore] = []
    for name, kme in kmes.items():
        reader = open_store(kme.config)
        readers.append(reader)
        for plan in plans.values():
            if name in (plan.site_a, plan.site_b):
                ends.append(_link_end(layout, plan, name, kme, reader))
    return _Site(layout, kmes, servers, sockets, ends, readers)


def _link_end(layout: StateDir, plan: LinkPlan, name: str, kme: Kme, reader: KeyStore) -> LinkEnd:
    seed = read_secret(layout.seed_file(plan.link))
    if plan.source == "files":
        # the feeder of `openqci kms feed`: each pair stored exactly once, then its files removed
        folder = KeyFileSource(Path(plan.folders[name]), plan.link, unit_bits=plan.unit_bits)
        other = plan.site_b if name == plan.site_a else plan.site_a
        parity = owned_parity(name, other)
        cap = kme.manager.max_free_units
        feeder = Feeder(folder, reader, unit_bits=plan.unit_bits, parity=parity, max_free_units=cap)
        return LinkEnd(plan, name, kme, reader, files=folder, feeder=feeder)
    if plan.source == "etsi014":
        return LinkEnd(plan, name, kme, reader)
    if plan.source != "engine":
        source = ModelKeySource(
            plan, LinkKeyStream(seed, plan.link), lambda: read_channel_events(layout, plan.link)
        )
        return LinkEnd(plan, name, kme, reader, source=source)
    end = LinkEnd(plan, name, kme, reader)

    def record_state(state: SourceState) -> None:
        end.state = state

    end.intake = IntakeServer(
        intake_address(str(layout.root), plan.link, name),
        intake_key(seed, plan.link, name),
        plan.link,
        on_block=end.add,
        on_state=record_state,
    )
    return end


async def _tick(site: _Site, client: httpx.AsyncClient, clock: Callable[[], float]) -> None:
    now = clock()
    # all ends at once, so the blocks of a KME's links share its group committer's next commit
    await asyncio.gather(*(end.catch_up(now) for end in site.ends))
    nodes = [
        NodeIn(qkdn_id=name, kme_url=f"https://127.0.0.1:{site.sockets[name].getsockname()[1]}")
        for name, server in site.servers.items()
        if server.started
    ]
    links = [await end.report() for end in site.ends]
    body = ReportIn(nodes=nodes, links=links).model_dump_json()
    try:
        response = await client.post(
            "/api/v1/reports", content=body, headers={"content-type": "application/json"}
        )
        if response.status_code != 204:
            _log.warning("controller refused the report: HTTP %d %s", response.status_code, response.text)
    except httpx.HTTPError as error:
        _log.warning("controller unreachable: %s", type(error).__name__)


async def _supply(site: _Site, client: httpx.AsyncClient, clock: Callable[[], float]) -> None:
    """Tick until told to stop: blocks, then a report; sleep to the next block's due time."""
    plans = [end.plan for end in site.ends]
    tick_s = min((p.tick_s for p in plans), default=1.0)
    while not site.stop.is_set():
        try:
            await _tick(site, client, clock)
        except Exception:  # a failed tick is logged and retried; the KMEs keep serving meanwhile
            _log.exception("key supply tick failed")
        wait_s = tick_s - ((clock() - (plans[0].epoch_s if plans else 0.0)) % tick_s) + 0.02
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(site.stop.wait(), timeout=wait_s)


async def _run(site: _Site, controller_url: str, token: str, verify: ssl.SSLContext | None = None) -> None:
    loop = asyncio.get_running_loop()

    def request_stop() -> None:
        site.stop.set()
        for server in site.servers.values():
            server.should_exit = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, request_stop)
    headers = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        base_url=controller_url, headers=headers, timeout=5.0, verify=verify if verify is not None else True
    ) as client:
        serving = [
            asyncio.create_task(server.serve(sockets=[site.sockets[name]]))
            for name, server in site.servers.items()
        ]
        intakes = [end.intake for end in site.ends if end.intake is not None]
        for intake in intakes:
            await intake.start()
        supply = asyncio.create_task(_supply(site, client, time.time))
        await asyncio.gather(*serving)
        request_stop()
        await supply
        for intake in intakes:
            await intake.close()
    for reader in site.readers:
        reader.close()


def _listen_arg(text: str) -> tuple[str, int]:
    name, _, fd = text.partition("=")
    if not name or not fd.isdigit():
        raise argparse.ArgumentTypeError(f"expected KME=FD, got {text!r}")
    return name, int(fd)


def main(argv: list[str] | None = None) -> None:
    """Run the site process until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m openqci.network.site", description=__doc__)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--controller", required=True, help="controller base URL (http://127.0.0.1:PORT)")
    parser.add_argument("--controller-ca", type=Path, help="the CA of an https controller's certificate")
    parser.add_argument("--kme", type=_listen_arg, action="append", required=True, metavar="KME=FD")
    add_logging_arguments(parser)
    args = parser.parse_args(argv)
    setup_logging(args)
    layout = StateDir(args.state_dir)
    token = read_secret(layout.token_file).decode()
    site = _open_site(layout, dict(args.kme))
    verify = None
    if args.controller_ca is not None:
        from openqci.network.controller_tls import client_verify

        verify = client_verify(args.controller_ca)
    kmes = sorted(site.kmes)
    process_started(_log, "site", kmes=kmes)
    asyncio.run(_run(site, args.controller, token, verify))
    process_stopped(_log, "site", kmes=kmes)


if __name__ == "__main__":
    main()
