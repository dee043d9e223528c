"""docs/deployment.md, run as written: two KMEs on separate hosts (network namespaces), stores on PostgreSQL.

The test makes one Linux network namespace per host (KME A, KME B, the SAEs) joined by a bridge in a
fourth, on a private /24 that exists only inside them, with names unique to the run. Then it runs the
blocks of the page marked ``<!-- deployment-test: NAME -->``, with the page's example addresses replaced by
the namespaces' and the database by the test server's: the certificates (``pki init``, ``pki issue
--san IP:...``), each KME's configuration (``kms init``, ``kms masterkey``, the peers), ``kms check``, the
systemd units' ``ExecStart`` lines (``kms feed`` once, ``kms serve`` in the KME's namespace) and the SAE's
two requests: a key from kme-a (enc_keys) and the same key from kme-b (dec_keys), over mutual TLS across
the namespaces, after the KMEs agreed on it over their own mutual TLS. The stores are PostgreSQL schemas
reached through the server's Unix socket, which every namespace sees since the file system is shared.

It needs root and ``ip`` (iproute2): elsewhere it is skipped with the reason, except under CI=true where
that is a failure. Namespaces, processes and schemas are removed whatever the outcome.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from openqci.cli import app
from openqci.keysource import KeyBlock
from tests.kms.test_key_files import write_pair
from tests.support import require_service

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "deployment.md"
SOCKET_DSN = "host=/var/run/postgresql dbname=test user=postgres"
PAGE_DSN = "host=/var/run/postgresql dbname=qkd user=openqci"
ROLES = ("a", "b", "s")  # KME host A, KME host B, the SAE host


def page_blocks() -> dict[str, str]:
    """The page's fenced blocks marked ``<!-- deployment-test: NAME -->``, by name."""
    text = PAGE.read_text()
    found = re.findall(r"<!-- deployment-test: ([\w -]+) -->\n```\w*\n(.*?)```", text, flags=re.S)
    return {name: body for name, body in found}


def _why_no_namespaces() -> str | None:
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "no `ip` command (iproute2)"
    probe = f"oqprobe{secrets.token_hex(3)}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True, check=False)
    if made.returncode != 0:
        return f"`ip netns add` fails here: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], check=False)
    return None


def _postgres_over_socket() -> str | None:
    import psycopg

    try:
        with psycopg.connect(SOCKET_DSN, connect_timeout=2):
            return None
    except psycopg.OperationalError as error:
        return f"no PostgreSQL at {SOCKET_DSN!r}: {str(error).strip().splitlines()[0]}"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@contextlib.contextmanager
def hosts() -> Iterator[dict[str, tuple[str, str]]]:
    """Namespaces for KME A, KME B and the SAEs on a bridge: role to (namespace, address)."""
    tag = secrets.token_hex(3)
    subnet = f"10.{secrets.randbelow(190) + 60}.{secrets.randbelow(250) + 1}"
    switch = f"oq{tag}-switch"
    made = {role: (f"oq{tag}-{role}", f"{subnet}.{i + 1}") for i, role in enumerate(ROLES)}
    names = [switch, *(ns for ns, _ in made.values())]
    try:
        for name in names:
            _ip("netns", "add", name)
            _ip("-n", name, "link", "set", "lo", "up")
        _ip("-n", switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", switch, "link", "set", "br0", "up")
        for role, (namespace, address) in made.items():
            inside, outside = f"v{tag}{role}", f"p{tag}{role}"
            _ip(
                "link",
                "add",
                inside,
                "netns",
                namespace,
                "type",
                "veth",
                "peer",
                "name",
                outside,
                "netns",
                switch,
            )
            _ip("-n", switch, "link", "set", outside, "master", "br0")
            _ip("-n", switch, "link", "set", outside, "up")
            _ip("-n", namespace, "addr", "add", f"{address}/24", "dev", inside)
            _ip("-n", namespace, "link", "set", inside, "up")
        yield made
    finally:
        for name in names:  # deleting a namespace removes its interfaces and their veth peers
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def _commands(block: str, replace: dict[str, str]) -> list[list[str]]:
    """The block's command lines, with the page's addresses and database replaced."""
    lines = [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [shlex.split(_substitute(line, replace)) for line in lines]


def _substitute(text: str, replace: dict[str, str]) -> str:
    pattern = "|".join(re.escape(k) for k in sorted(replace, key=len, reverse=True))
    return re.sub(rf"(?<![\w.])(?:{pattern})(?![\w.])", lambda m: replace[m.group(0)], text)


def _run_here(argv: list[str]) -> str:
    """One line of a block run on this host: ``openqci ...`` in process, or ``cp FILES... FOLDER``."""
    if argv[0] == "cp":
        for source in argv[1:-1]:
            shutil.copy(source, argv[-1])
        return ""
    assert argv[0] == "openqci", argv
    result = CliRunner().invoke(app, argv[1:])
    assert result.exit_code == 0, (argv, result.output, result.exception)
    return result.output


def _in_namespace(namespace: str, argv: list[str]) -> list[str]:
    """``argv`` (an ``openqci`` command line) as run by ``ip netns exec`` with this tree's Python."""
    assert argv[0].endswith("openqci"), argv
    return ["ip", "netns", "exec", namespace, sys.executable, "-m", "openqci", *argv[1:]]


def test_two_kmes_on_separate_hosts_agree_on_a_key_an_sae_takes_from_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reason = _why_no_namespaces()
    if reason is not None:
        message = f"network namespaces cannot be made here: {reason}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message} (CI=true: the deployment test must run)")
        pytest.skip(message)
    reason = _postgres_over_socket()
    require_service("PostgreSQL over its Unix socket", reason is None, reason or "")
    blocks = page_blocks()
    assert {"certificates", "kme-a", "kme-b", "kme-a peers", "kme-b peers", "systemd serve", "systemd feed",
            "sae"} <= set(blocks)  # fmt: skip
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONUNBUFFERED", "1")
    schemas = {kme: f"t_{uuid.uuid4().hex[:16]}" for kme in ("kme-a", "kme-b")}
    processes: list[subprocess.Popen[str]] = []
    with hosts() as made:
        try:
            replace = {
                "192.0.2.1": made["a"][1],
                "192.0.2.2": made["b"][1],
                "192.0.2.11": made["s"][1],
                "192.0.2.12": made["s"][1],
                PAGE_DSN: SOCKET_DSN,
            }
            _deploy_files(blocks, replace, schemas)
            block = KeyBlock("link-a-b", uuid.uuid4(), os.urandom(2048), 16384, 0.02, 1e-10)
            processes += _start_kmes(blocks, made, tmp_path, block)
            key = _take_a_key(blocks, replace, made["s"][0])
            units = [block.bits[i : i + 32] for i in range(0, len(block.bits), 32)]
            assert key in units, "the SAE's key is a unit of the block both devices delivered"
            _check_a_client_without_certificate_is_refused(made["s"][0], made["a"][1], tmp_path)
            _check_the_firewall_table()
        finally:
            for process in processes:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
                if process.stdout is not None:
                    process.stdout.close()
            _drop(schemas.values())


def _deploy_files(blocks: dict[str, str], replace: dict[str, str], schemas: dict[str, str]) -> None:
    """Certificates and configurations as the page makes them; each KME host's folder passes kms check."""
    for argv in _commands(blocks["certificates"], replace):
        _run_here(argv)
    for kme in ("kme-a", "kme-b"):
        for argv in _commands(blocks[kme], replace):
            _run_here(argv)
        config = Path(kme) / "kme.yaml"
        document = yaml.safe_load(config.read_text())
        assert document["store"] == {"postgres": SOCKET_DSN, "schema": f"openqci_{kme.replace('-', '_')}"}
        document["store"]["schema"] = schemas[kme]  # a schema of this run's own on the shared server
        document["peers"] = yaml.safe_load(_substitute(blocks[f"{kme} peers"], replace))["peers"]
        config.write_text(yaml.safe_dump(document))
        assert not list(Path(kme).rglob("ca.key")), "the CA's key stays on the CA host"
        checked = json.loads(_run_here(["openqci", "kms", "check", "--config", str(config), "--json"]))
        assert checked["listen"] == f"{document['host']}:8443"


def _unit_command(unit: str, kme: str, folder: Path, feed: Path) -> list[str]:
    """The ``ExecStart`` of a unit on the page (written for kme-a) for ``kme``, with this run's folders."""
    (line,) = [line for line in unit.splitlines() if line.startswith("ExecStart=")]
    line = line.removeprefix("ExecStart=").replace("/etc/openqci/kme-a", str(folder / kme))
    return shlex.split(line.replace("/var/lib/openqci/link-a-b", str(feed)))


def _start_kmes(
    blocks: dict[str, str], made: dict[str, tuple[str, str]], root: Path, block: KeyBlock
) -> list[subprocess.Popen[str]]:
    """Both KMEs' units in their namespaces, after the key files of one block, written to both, are fed.

    The feed unit's command line runs once here without ``--watch`` (the same feeder, one look at the
    folder, in this process: it needs the file system and the database socket, not the network).
    """
    started = []
    for kme, role in (("kme-a", "a"), ("kme-b", "b")):
        feed = root / f"device-{kme}"
        feed.mkdir(mode=0o700)
        write_pair(feed, block)
        once = [arg for arg in _unit_command(blocks["systemd feed"], kme, root, feed) if arg != "--watch"]
        report = _run_here(["openqci", *once[1:], "--json"])
        assert json.loads(report)["files_ingested"] == 1, report
        assert not list(feed.glob("*.json"))
        argv = _in_namespace(made[role][0], _unit_command(blocks["systemd serve"], kme, root, feed))
        started.append(
            subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
            )
        )
    for kme, role, serve in (("kme-a", "a", started[0]), ("kme-b", "b", started[1])):
        _wait_for_announce(serve, f"https://{made[role][1]}:8443", kme)
    return started


def _wait_for_announce(process: subprocess.Popen[str], url: str, kme: str) -> None:
    """``kms serve`` says where it listens once its socket is bound."""
    assert process.stdout is not None
    seen = ""
    deadline = time.monotonic() + 60
    while url not in " ".join(seen.split()):
        line = process.stdout.readline()
        assert line or process.poll() is None, f"{kme} exited: {seen}"
        assert time.monotonic() < deadline, f"{kme} did not announce {url}: {seen}"
        seen += line


def _take_a_key(blocks: dict[str, str], replace: dict[str, str], namespace: str) -> bytes:
    """The SAE's enc_keys at kme-a and dec_keys at kme-b, from the SAE host's namespace."""
    get, get_with_id = _commands(blocks["sae"], replace)
    enc = subprocess.run(
        _in_namespace(namespace, get), capture_output=True, text=True, timeout=120, check=False
    )
    assert enc.returncode == 0, enc.stderr
    keys = json.loads(enc.stdout)["keys"]
    (key_id,) = [key["key_ID"] for key in keys]
    argv = [key_id if arg == "KEY_ID" else arg for arg in get_with_id]
    dec = subprocess.run(
        _in_namespace(namespace, argv), capture_output=True, text=True, timeout=120, check=False
    )
    assert dec.returncode == 0, dec.stderr
    assert json.loads(dec.stdout)["keys"] == keys
    return base64.b64decode(keys[0]["key"])


_WITH_AND_WITHOUT_CERTIFICATE = """
import socket, ssl, sys
address, folder = sys.argv[1], sys.argv[2]
for certificate in (None, "sae-a"):
    context = ssl.create_default_context(cafile=f"{folder}/ca.pem")
    if certificate:
        context.load_cert_chain(f"{folder}/{certificate}.pem", f"{folder}/{certificate}.key")
    try:
        with socket.create_connection((address, 8443), timeout=20) as raw:
            with context.wrap_socket(raw, server_hostname=address) as tls:
                tls.sendall(b"GET /api/v1/keys/sae-b/status HTTP/1.1\\r\\nHost: kme\\r\\n\\r\\n")
                answer = tls.recv(100)
    except ssl.SSLCertVerificationError as error:
        print(certificate, "the KME's certificate did not verify:", error)
    except (ssl.SSLError, ConnectionError) as error:
        print(certificate, "refused:", type(error).__name__)
    else:  # TLS 1.3 checks the client's certificate after the handshake: then the server just closes
        print(certificate, "refused: closed" if not answer else f"answered: {answer[:12]!r}")
"""


def _check_a_client_without_certificate_is_refused(namespace: str, address: str, root: Path) -> None:
    """From the SAE host to kme-a: refused without a client certificate, answered with sae-a's."""
    argv = ["ip", "netns", "exec", namespace, sys.executable, "-I", "-c", _WITH_AND_WITHOUT_CERTIFICATE]
    done = subprocess.run([*argv, address, str(root / "sae-a")], capture_output=True, text=True, timeout=60)
    lines = done.stdout.splitlines()
    assert len(lines) == 2, done.stdout + done.stderr
    assert lines[0].startswith("None refused: "), done.stdout
    assert lines[1] == "sae-a answered: b'HTTP/1.1 200'", done.stdout


def _check_the_firewall_table() -> None:
    """The page's firewall rules open the port the KMEs listened on to the hosts that reached it."""
    text = PAGE.read_text()
    assert "| 8443/tcp | KME host A | SAE host A; KME host B |" in text
    assert "ip saddr { 192.0.2.11, 192.0.2.2 } tcp dport 8443 accept" in text


def _drop(schemas: object) -> None:
    import psycopg

    names = ", ".join(schemas)  # type: ignore[call-overload]
    with psycopg.connect(SOCKET_DSN, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {names} CASCADE")
