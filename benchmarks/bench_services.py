"""Records per second through the encrypted channel, against plain TCP carrying the same records.

Two KMEs run as ``openqci kms serve`` processes over mutual TLS on 127.0.0.1 (as in ``bench_kms.py``). The
slave application (the receiver) runs in a process of its own, the master application (the sender) in
this one. For each record size the same number of records goes through:

* the baseline: plain TCP, each record an 18-byte header (the channel's) and the payload, no encryption;
* the channel (``openqci.services.channel``): AES-256-GCM records, keys from the KMEs, rekeying every
  ``--rekey-seconds`` seconds or ``--rekey-records`` records, whichever comes first.

Throughput is end to end: from the sender's first record to the receiver's last (one monotonic clock for
both processes). CPU per record adds the sender's and the receiver's CPU time, which other jobs on a shared
machine disturb less than wall time. Key consumption per hour follows from the rekey policy and the
measured rate.

Run with ``./run bench services`` (options: ``--records N --rekey-seconds S --rekey-records R``).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_kms import _fill, _start, _write_site
from openqci.services.channel import ChannelConfig, ChannelListener, ChannelMode, ChannelSender
from openqci.services.channel_records import HEADER_BYTES
from openqci.services.sae_client import SaeClient

_PLAIN_HEADER = struct.Struct(">BBIQI")
SIZES = (64, 1024, 16384)
KEY_BITS = 256


def cpu_name() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (or what the platform says elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown CPU"


def _config(spec: dict[str, Any]) -> ChannelConfig:
    return ChannelConfig(
        mode=ChannelMode(spec["mode"]),
        rekey_seconds=spec["rekey_seconds"],
        rekey_records=spec["rekey_records"],
        max_record_bytes=max(SIZES),
        key_bits=KEY_BITS,
    )


def _receive(spec: dict[str, Any]) -> None:
    """The receiver's process: listen, print the port, take one connection, print what arrived as JSON."""
    count = data = keys = 0
    first_cpu = key_wait = 0.0
    if spec["mode"] == "plain":
        with socket.create_server(("127.0.0.1", 0)) as server:
            print(server.getsockname()[1], flush=True)
            sock, _ = server.accept()
            with sock, sock.makefile("rb", buffering=262144) as stream:
                while header := stream.read(HEADER_BYTES):
                    length = _PLAIN_HEADER.unpack(header)[4]
                    data += len(stream.read(length))
                    count += 1
                    if count == 1:
                        first_cpu = time.process_time()
    else:
        with SaeClient.from_pki(Path(spec["pki"]), "sae-b", spec["kme_url"]) as client:
            listener = ChannelListener(
                client, master_sae_id="sae-a", slave_sae_id="sae-b", config=_config(spec)
            )
            with listener:
                print(listener.address[1], flush=True)
                with listener.accept(timeout_s=60) as receiver:
                    for payload in receiver:
                        data += len(payload)
                        count += 1
                        if count == 1:
                            first_cpu = time.process_time()
                    keys = receiver.stats.keys_used
                    key_wait = receiver.stats.key_wait_s
    cpu = time.process_time() - first_cpu
    done = {"done": time.monotonic(), "records": count, "bytes": data, "keys": keys, "cpu_s": cpu}
    done["key_wait_ms"] = 1e3 * key_wait / max(keys, 1)
    print(json.dumps(done), flush=True)


def _run(spec: dict[str, Any], payload: bytes, records: int, pki: Path, kme_a: str) -> dict[str, Any]:
    """Send ``records`` copies of ``payload`` to a receiver process; return the figures of the run.

    The clock starts once the connection is up (and, for the channel, the first key taken), so the rate
    is the steady state, rekeys during the run included.
    """
    receiver = subprocess.Popen(
        [sys.executable, __file__, "--receive", json.dumps(spec)], stdout=subprocess.PIPE, text=True
    )
    assert receiver.stdout is not None
    port = int(receiver.stdout.readline())
    if spec["mode"] == "plain":
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            start, cpu_start = time.monotonic(), time.process_time()
            for seq in range(records):
                sock.sendall(_PLAIN_HEADER.pack(1, 5, 1, seq, len(payload)) + payload)
        rekeys = 0
    else:
        config = _config(spec)
        with SaeClient.from_pki(pki, "sae-a", kme_a) as client:
            sender = ChannelSender.connect(
                ("127.0.0.1", port), client, master_sae_id="sae-a", slave_sae_id="sae-b", config=config
            )
            with sender:
                sender.rekey()
                start, cpu_start = time.monotonic(), time.process_time()
                for _ in range(records):
                    sender.send(payload)
            rekeys = sender.stats.rekeys
    sender_cpu = time.process_time() - cpu_start
    out, _ = receiver.communicate(timeout=120)
    result = json.loads(out.splitlines()[-1])
    if result["records"] != records or result["bytes"] != records * len(payload):
        raise RuntimeError(f"the receiver got {result['records']} records, expected {records}")
    elapsed = result["done"] - start
    return {
        "rate": records / elapsed,
        "mib_s": records * len(payload) / elapsed / 2**20,
        "elapsed_s": elapsed,
        "rekeys": rekeys,
        "cpu_us": 1e6 * (sender_cpu + result["cpu_s"]) / records,
        "key_wait_ms": result["key_wait_ms"],
    }


def _keys_per_hour(rate: float, rekey_seconds: float, rekey_records: int) -> float:
    """Keys a sender at ``rate`` records/s takes per hour: whichever limit comes first sets the pace."""
    return 3600.0 * max(1.0 / rekey_seconds, rate / rekey_records)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000, help="records of 64 and 1024 bytes per run")
    parser.add_argument("--rekey-seconds", type=float, default=1.0)
    parser.add_argument("--rekey-records", type=int, default=1_000_000)
    parser.add_argument("--receive", help=argparse.SUPPRESS)  # internal: run as the receiver
    args = parser.parse_args()
    if args.receive:
        _receive(json.loads(args.receive))
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ports = _write_site(root)
        _fill(root, 4096)
        servers = [_start(root, name, port) for name, port in ports.items()]
        try:
            kme_a, kme_b = (f"https://127.0.0.1:{ports[n]}" for n in ("kme-a", "kme-b"))
            print(f"CPU: {cpu_name()} ({os.cpu_count()} cores)")
            print(
                f"rekey policy: every {args.rekey_seconds:g} s or {args.rekey_records} records, "
                f"{KEY_BITS}-bit QKD keys; the receiver in its own process"
            )
            print("wall: records/s end to end; CPU: sender + receiver CPU time per record (us)")
            print("key ms: the receiver's wait for each key (dec_keys, or the hybrid exchange)")
            columns = (
                "bytes",
                "mode",
                "records",
                "rec/s",
                "MiB/s",
                "wall",
                "CPU us",
                "CPU",
                "rekeys",
                "key ms",
            )
            widths = (6, 7, 8, 10, 8, 7, 7, 7, 6, 7)
            print(
                " ".join(f"{c:>{w}}" for c, w in zip(columns, widths, strict=True)), f"{'key bits/hour':>14}"
            )
            for size in SIZES:
                records = args.records if size <= 1024 else max(args.records // 5, 1000)
                payload = os.urandom(size)
                modes = ("plain", "qkd", "hybrid") if size == 1024 else ("plain", "qkd")
                base: dict[str, Any] | None = None
                for mode in modes:
                    spec = {
                        "mode": mode,
                        "rekey_seconds": args.rekey_seconds,
                        "rekey_records": args.rekey_records,
                        "pki": str(root / "pki"),
                        "kme_url": kme_b,
                    }
                    row = _run(spec, payload, records, root / "pki", kme_a)
                    base = base or row
                    per_hour = _keys_per_hour(row["rate"], args.rekey_seconds, args.rekey_records)
                    plain = mode == "plain"
                    cells = (
                        size,
                        mode,
                        records,
                        f"{row['rate']:,.0f}",
                        f"{row['mib_s']:.1f}",
                        f"{row['rate'] / base['rate']:.2f}x",
                        f"{row['cpu_us']:.1f}",
                        f"{row['cpu_us'] / base['cpu_us']:.2f}x",
                        "-" if plain else row["rekeys"],
                        "-" if plain else f"{row['key_wait_ms']:.0f}",
                    )
                    line = " ".join(f"{c:>{w}}" for c, w in zip(cells, widths, strict=True))
                    print(line, f"{'-' if plain else f'{per_hour * KEY_BITS:,.0f}':>14}", flush=True)
        finally:
            for server in servers:
                server.terminate()
                server.wait(timeout=10)


if __name__ == "__main__":
    main()
