"""Key files: the folder a QKD device drops its key into, read as a :class:`openqci.keysource.KeySource`.

Some QKD products hand over their key as files rather than through an API. Each block is a pair of files
in one folder: ``NAME.key``, the raw key packed eight bits per byte (most significant bit first), and its
sidecar ``NAME.json``::

    {"link_id": "link-ab", "block_id": "<UUID, the same at both ends>", "size_bits": 65536,
     "qber": 0.021, "epsilon": 1e-10, "sha256": "<hex digest of NAME.key>",
     "created_at": "2026-01-01T12:00:00+00:00"}                             (created_at is optional)

The producer writes the key file first and the sidecar last (under another name, then renamed), so a
pair is complete only when the sidecar exists and the key file's length and digest match it. A key file
without its sidecar may still be being written and is left alone. A pair that breaks any rule is moved to
``rejected/`` with a ``NAME.reason`` file naming the problem in one line, and logged: a refused pair is
never retried, so a bad file costs one look, and nothing but refused pairs ever lands in ``rejected/``.

Once the store has committed a block, :meth:`KeyFileSource.remove` deletes its pair in an order that
survives a kill at any point. The sidecar is renamed ``NAME.ingested``: the mark that the store holds the
block. Then the key file is overwritten with zeros, synced and unlinked (key material must not stay on
disk), and the mark is unlinked. Every scan first finishes the removals a kill interrupted. Before the
mark the pair is whole, and adding it again adds nothing (unit IDs derive from the block ID), so the
caller may add a block, be killed, and add it again on the next run: see :mod:`openqci.kms.key_feed`.

One reader at a time: the source holds an exclusive lock on ``.openqci-feed.lock`` in the folder, since
a second reader could see a key file half overwritten by the first and refuse a good pair.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import math
import os
import stat
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from openqci.keysource import KeyBlock, SourceState
from openqci.kms.errors import KeyFileError

__all__ = [
    "KEY_SUFFIX",
    "MARK_SUFFIX",
    "MAX_SIZE_BITS",
    "REASON_SUFFIX",
    "REJECTED",
    "SIDECAR_SUFFIX",
    "FilePair",
    "KeyFileSource",
    "Refusal",
    "Scan",
    "Sidecar",
    "check_pair",
    "parse_sidecar",
]

KEY_SUFFIX = ".key"
SIDECAR_SUFFIX = ".json"
MARK_SUFFIX = ".ingested"
REASON_SUFFIX = ".reason"
REJECTED = "rejected"
LOCK_FILE = ".openqci-feed.lock"

#: The largest block read (128 MiB of key): the whole block is held in memory and stored in one transaction.
MAX_SIZE_BITS = 1 << 30
_MAX_SIDECAR_BYTES = 1 << 16
_REQUIRED = ("link_id", "block_id", "size_bits", "qber", "epsilon", "sha256")
_OPTIONAL = ("created_at",)
_HEX = frozenset("0123456789abcdef")
_WIPE_CHUNK = 1 << 20

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sidecar:
    """The checked content of a sidecar ``NAME.json``.

    Attributes
    ----------
    link_id
        The link that made the block.
    block_id
        The block's UUID, identical at both ends of the link.
    size_bits
        Key bits in ``NAME.key`` (the file holds exactly ``ceil(size_bits / 8)`` bytes).
    qber, epsilon
        The block's estimated QBER and its security parameter.
    sha256
        Lower-case hex SHA-256 digest of ``NAME.key``.
    created_at
        When the producer completed the block (UTC), if it said.
    """

    link_id: str
    block_id: uuid.UUID
    size_bits: int
    qber: float
    epsilon: float
    sha256: str
    created_at: datetime | None = None

    def document(self) -> dict[str, Any]:
        """Return the JSON object a producer writes for this sidecar."""
        document: dict[str, Any] = {
            "link_id": self.link_id,
            "block_id": str(self.block_id),
            "size_bits": self.size_bits,
            "qber": self.qber,
            "epsilon": self.epsilon,
            "sha256": self.sha256,
        }
        if self.created_at is not None:
            document["created_at"] = self.created_at.isoformat()
        return document


@dataclass(frozen=True)
class FilePair:
    """A complete, valid pair: its name (the files' common stem) and the block it holds."""

    name: str
    block: KeyBlock


@dataclass(frozen=True)
class Refusal:
    """A pair moved to ``rejected/``, and why."""

    name: str
    reason: str


@dataclass(frozen=True)
class Scan:
    """What one look at the folder found.

    Attributes
    ----------
    pairs
        New valid pairs (at most the source's batch), oldest sidecar first.
    refused
        Pairs refused by this scan.
    finished
        Removals interrupted by an earlier kill and completed now.
    complete
        False when the batch filled before every sidecar was looked at.
    """

    pairs: list[FilePair]
    refused: list[Refusal]
    finished: int
    complete: bool


def parse_sidecar(data: bytes) -> Sidecar:
    """Check a sidecar's bytes: a JSON object with exactly the format's fields, of the right types and ranges.

    Raises
    ------
    KeyFileError
        Naming the first problem found, in one line.
    """
    if len(data) > _MAX_SIDECAR_BYTES:
        raise KeyFileError(f"sidecar is larger than {_MAX_SIDECAR_BYTES} bytes")
    try:
        document = json.loads(data, object_pairs_hook=_unique_fields, parse_constant=_no_constant)
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError both derive from it
        raise KeyFileError(f"sidecar is not valid JSON: {_one_line(str(error))}") from None
    if not isinstance(document, dict):
        raise KeyFileError(f"sidecar must be a JSON object, not {_json_type(document)}")
    missing = [name for name in _REQUIRED if name not in document]
    if missing:
        raise KeyFileError(f"sidecar lacks {', '.join(missing)}")
    unknown = sorted(set(document) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise KeyFileError(f"sidecar has unknown fields {', '.join(repr(u)[:40] for u in unknown)}")
    size_bits = _integer(document, "size_bits")
    if not 0 < size_bits <= MAX_SIZE_BITS:
        raise KeyFileError(f"size_bits {size_bits} is outside [1, {MAX_SIZE_BITS}]")
    qber = _number(document, "qber")
    if not 0.0 <= qber <= 0.5:
        raise KeyFileError(f"qber {qber} is outside [0, 0.5]")
    epsilon = _number(document, "epsilon")
    if not 0.0 < epsilon < 1.0:
        raise KeyFileError(f"epsilon {epsilon} is outside (0, 1)")
    return Sidecar(
        link_id=_link(document),
        block_id=_block_id(document),
        size_bits=size_bits,
        qber=qber,
        epsilon=epsilon,
        sha256=_digest(document),
        created_at=_created_at(document),
    )


def check_pair(
    sidecar: Sidecar, key: bytes, *, link_id: str, unit_bits: int, made_at: datetime | None = None
) -> KeyBlock:
    """Check a key file's bytes against its sidecar and the KME; return the block they hold.

    ``link_id`` is the link this folder feeds, ``unit_bits`` the KME's unit size; ``made_at`` stands in
    for a missing ``created_at``.

    Raises
    ------
    KeyFileError
        For another link, a size that is no whole number of units, a length or digest that differs.
    """
    if sidecar.link_id != link_id:
        raise KeyFileError(f"link {sidecar.link_id!r} is not configured here: this folder feeds {link_id!r}")
    if sidecar.size_bits % unit_bits:
        raise KeyFileError(
            f"size_bits {sidecar.size_bits} is not a multiple of the KME's unit size ({unit_bits} bits)"
        )
    expected = -(-sidecar.size_bits // 8)
    if len(key) != expected:
        what = "truncated" if len(key) < expected else "too long"
        raise KeyFileError(
            f"key file {what}: {len(key)} bytes where size_bits {sidecar.size_bits} needs {expected}"
        )
    digest = hashlib.sha256(key).hexdigest()
    if digest != sidecar.sha256:
        raise KeyFileError(f"sha256 of the key file is {digest}, the sidecar says {sidecar.sha256}")
    return KeyBlock(
        sidecar.link_id,
        sidecar.block_id,
        key,
        sidecar.size_bits,
        sidecar.qber,
        sidecar.epsilon,
        sidecar.created_at or made_at or datetime.now(UTC),
    )


class KeyFileSource:
    """The blocks of one link's key file folder, as this KME's end of the link receives them.

    ``blocks_due`` (or :meth:`scan`) returns each complete, valid pair once, oldest sidecar first, at most
    ``batch`` at a time; once the caller's store has committed a block it calls :meth:`remove`, or
    :meth:`requeue` to have the block returned again. A new source over the same folder (after a restart)
    returns every pair still there. Use it as a context manager, or :meth:`close` it: it locks the folder.

    Raises
    ------
    KeyFileError
        If the folder does not exist, or another reader holds it.
    """

    def __init__(self, folder: Path, link_id: str, *, unit_bits: int, batch: int = 64) -> None:
        if not folder.is_dir():
            raise KeyFileError(f"{folder} is not a folder" if folder.exists() else f"{folder} does not exist")
        if unit_bits <= 0 or unit_bits % 8 or batch < 1:
            raise ValueError(f"need unit_bits a multiple of 8 and batch >= 1, got {unit_bits}, {batch}")
        self.folder = folder
        self._link_id = link_id
        self._unit_bits = unit_bits
        self._batch = batch
        self._lock = _lock_folder(folder)
        self._handed: dict[uuid.UUID, str] = {}
        self._opened_s = time.time()
        self._returned_bits = 0
        self._blocks = 0
        self._seen_bits = 0
        self._first_bits = 0
        self._span: tuple[float, float] | None = None
        self._qber = 0.5
        self._folder_problem = ""
        self._pair_problem = ""

    @property
    def link_id(self) -> str:
        """The link whose key files this folder holds."""
        return self._link_id

    # -- the KeySource protocol -------------------------------------------------------------------------

    def blocks_due(self, now_s: float) -> Sequence[KeyBlock]:
        """The blocks of the valid pairs in the folder now, not returned yet (``now_s`` is not needed)."""
        return [pair.block for pair in self.scan().pairs]

    def state(self) -> SourceState:
        """Up unless the folder cannot be read or the latest pair was refused; QBER and rates as seen.

        ``skr_bps`` is the key made over the span of the blocks' creation times, ``eskr_bps`` the key
        returned per second since the source was opened.
        """
        made = 0.0
        if self._span is not None and self._span[1] > self._span[0]:
            made = (self._seen_bits - self._first_bits) / (self._span[1] - self._span[0])
        handed = self._returned_bits / max(time.time() - self._opened_s, 1e-9)
        reason = self._folder_problem or self._pair_problem
        return SourceState(not reason, self._qber, made, handed, self._blocks, reason)

    # -- scanning and removing --------------------------------------------------------------------------

    def scan(self) -> Scan:
        """Finish interrupted removals, refuse bad pairs, and return the new valid ones.

        Raises
        ------
        KeyFileError
            If the folder cannot be listed, or a refused pair cannot be moved.
        """
        try:
            with os.scandir(self.folder) as listing:
                entries = [(e.name, e) for e in listing if not e.name.startswith(".")]
        except OSError as error:
            self._folder_problem = f"cannot read {self.folder}: {error.strerror}"
            raise KeyFileError(self._folder_problem) from None
        self._folder_problem = ""
        finished = 0
        for name, _ in entries:
            if name.endswith(MARK_SUFFIX):
                self._finish_removal(name.removesuffix(MARK_SUFFIX))
                finished += 1
        fresh: dict[uuid.UUID, FilePair] = {}
        refused: list[Refusal] = []
        waiting = set(self._handed.values())
        complete = True
        try:
            for name in self._sidecars(entries):
                if name in waiting:
                    continue
                if len(fresh) == self._batch:
                    complete = False
                    break
                try:
                    pair = self._read(name)
                except FileNotFoundError:
                    continue  # the sidecar went away since the listing
                except KeyFileError as error:
                    refused.append(self._refuse(name, str(error)))
                    continue
                block_id = pair.block.block_id
                other = self._handed.get(block_id) or (fresh[block_id].name if block_id in fresh else None)
                if other is not None:
                    refused.append(self._refuse(name, f"block_id {block_id} is also in pair {other}"))
                    continue
                fresh[block_id] = pair
                self._seen(pair.block)
        finally:  # what this scan returns is handed out only if it returns
            self._handed.update({block_id: pair.name for block_id, pair in fresh.items()})
        return Scan(list(fresh.values()), refused, finished, complete)

    def remove(self, block: KeyBlock) -> None:
        """Delete the pair of ``block``, which the store now holds durably: mark, wipe, unlink."""
        name = self._handed.pop(block.block_id)
        try:
            with contextlib.suppress(FileNotFoundError):
                os.replace(self._path(name, SIDECAR_SUFFIX), self._path(name, MARK_SUFFIX))
            _sync_folder(self.folder)
        except OSError as error:
            raise KeyFileError(f"cannot mark pair {name} as ingested: {error.strerror}") from None
        self._finish_removal(name)

    def requeue(self, block: KeyBlock) -> None:
        """Have the next scan return ``block`` again (the store could not take it)."""
        self._handed.pop(block.block_id, None)

    def close(self) -> None:
        """Release the folder's lock."""
        if self._lock >= 0:
            os.close(self._lock)
            self._lock = -1

    def __enter__(self) -> KeyFileSource:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"KeyFileSource({str(self.folder)!r}, link_id={self._link_id!r})"

    # -- private ----------------------------------------------------------------------------------------

    def _path(self, name: str, suffix: str) -> Path:
        return self.folder / f"{name}{suffix}"

    @staticmethod
    def _sidecars(entries: list[tuple[str, os.DirEntry[str]]]) -> list[str]:
        """Names of the sidecars in the listing, oldest first (by modification time, then name)."""
        found = []
        for name, entry in entries:
            if not name.endswith(SIDECAR_SUFFIX):
                continue
            try:
                if entry.is_dir():
                    continue
                found.append((entry.stat(follow_symlinks=False).st_mtime_ns, name))
            except FileNotFoundError:
                continue
        return [name.removesuffix(SIDECAR_SUFFIX) for _, name in sorted(found)]

    def _read(self, name: str) -> FilePair:
        sidecar_data, mtime = _read_file(self._path(name, SIDECAR_SUFFIX), _MAX_SIDECAR_BYTES + 1)
        sidecar = parse_sidecar(sidecar_data)
        expected = -(-sidecar.size_bits // 8)
        try:
            key, _ = _read_file(self._path(name, KEY_SUFFIX), expected + 1)
        except FileNotFoundError:
            raise KeyFileError(f"key file {name}{KEY_SUFFIX} is missing") from None
        made_at = datetime.fromtimestamp(mtime, UTC)
        block = check_pair(sidecar, key, link_id=self._link_id, unit_bits=self._unit_bits, made_at=made_at)
        return FilePair(name, block)

    def _refuse(self, name: str, reason: str) -> Refusal:
        """Move a bad pair to ``rejected/`` beside a one-line ``NAME.reason``; log it."""
        rejected = self.folder / REJECTED
        reason_path = rejected / f"{name}{REASON_SUFFIX}"
        try:
            rejected.mkdir(exist_ok=True)
            key = self._path(name, KEY_SUFFIX)
            resumed = not os.path.lexists(key) and os.path.lexists(rejected / f"{name}{KEY_SUFFIX}")
            if resumed and reason_path.exists():
                reason = reason_path.read_text().strip()  # a kill interrupted this refusal: finish it
            else:
                reason = _one_line(reason)
                _write_durably(reason_path, f"{reason}\n".encode())
            for suffix in (KEY_SUFFIX, SIDECAR_SUFFIX):
                if os.path.lexists(self._path(name, suffix)):
                    os.replace(self._path(name, suffix), rejected / f"{name}{suffix}")
            _sync_folder(rejected)
            _sync_folder(self.folder)
        except OSError as error:
            raise KeyFileError(f"cannot move refused pair {name} to {rejected}: {error.strerror}") from None
        self._pair_problem = f"the latest pair, {name}, was refused: {reason}"
        _log.warning("key file pair %s in %s refused (moved to %s/): %s", name, self.folder, REJECTED, reason)
        return Refusal(name, reason)

    def _finish_removal(self, name: str) -> None:
        """Wipe and unlink the key file of a marked pair, then the mark."""
        _wipe(self._path(name, KEY_SUFFIX))
        try:
            self._path(name, MARK_SUFFIX).unlink(missing_ok=True)
            _sync_folder(self.folder)
        except OSError as error:
            raise KeyFileError(f"cannot remove the mark of pair {name}: {error.strerror}") from None

    def _seen(self, block: KeyBlock) -> None:
        made = block.created_at.timestamp()
        if self._span is None:
            self._span, self._first_bits = (made, made), block.size_bits
        else:
            first, last = self._span
            if made < first:
                self._first_bits = block.size_bits
            self._span = (min(first, made), max(last, made))
        self._seen_bits += block.size_bits
        self._returned_bits += block.size_bits
        self._blocks += 1
        self._qber = block.qber
        self._pair_problem = ""


# -- format checks --------------------------------------------------------------------------------------


def _unique_fields(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    names = [name for name, _ in pairs]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise KeyFileError(f"sidecar names {', '.join(repr(t)[:40] for t in twice)} more than once")
    return dict(pairs)


def _no_constant(name: str) -> Any:
    raise KeyFileError(f"sidecar is not valid JSON: {name} is not a JSON number")


def _json_type(value: Any) -> str:
    kinds: dict[type, str] = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    kinds |= {list: "an array", dict: "an object"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)


def _integer(document: dict[str, Any], name: str) -> int:
    value = document[name]
    if type(value) is not int:
        raise KeyFileError(f"{name} must be an integer, not {_json_type(value)}")
    return value


def _number(document: dict[str, Any], name: str) -> float:
    value = document[name]
    if type(value) not in (int, float) or not math.isfinite(value):
        raise KeyFileError(f"{name} must be a number, not {_json_type(value)}")
    return float(value)


def _string(document: dict[str, Any], name: str) -> str:
    value = document[name]
    if not isinstance(value, str):
        raise KeyFileError(f"{name} must be a string, not {_json_type(value)}")
    return value


def _link(document: dict[str, Any]) -> str:
    link_id = _string(document, "link_id")
    if not link_id or not link_id.isprintable():
        raise KeyFileError("link_id must be a non-empty printable string")
    return link_id


def _block_id(document: dict[str, Any]) -> uuid.UUID:
    text = _string(document, "block_id")
    try:
        return uuid.UUID(text)
    except ValueError:
        raise KeyFileError(f"block_id {text[:40]!r} is not a UUID") from None


def _digest(document: dict[str, Any]) -> str:
    digest = _string(document, "sha256").lower()
    if len(digest) != 64 or not set(digest) <= _HEX:
        raise KeyFileError("sha256 must be 64 hexadecimal digits")
    return digest


def _created_at(document: dict[str, Any]) -> datetime | None:
    if "created_at" not in document:
        return None
    text = _string(document, "created_at")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise KeyFileError(f"created_at {text[:40]!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise KeyFileError(f"created_at {text[:40]!r} names no time zone (add Z or +00:00)")
    return moment.astimezone(UTC)


def _one_line(text: str) -> str:
    return " ".join(text.split())


# -- files ----------------------------------------------------------------------------------------------


def _lock_folder(folder: Path) -> int:
    """Take the folder's exclusive lock (released by the kernel if the process dies); return its fd."""
    path = folder / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as error:
        raise KeyFileError(f"cannot lock {folder}: {error.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise KeyFileError(f"another reader is feeding from {folder} (it holds {path})") from None
    return fd


def _read_file(path: Path, limit: int) -> tuple[bytes, float]:
    """Read at most ``limit`` bytes of a regular file (never through a symbolic link); with its mtime.

    Raises
    ------
    FileNotFoundError
        If it does not exist.
    KeyFileError
        If it is no regular file or cannot be read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        raise
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise KeyFileError(f"{path.name} is a symbolic link, not a file") from None
        raise KeyFileError(f"cannot read {path.name}: {error.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise KeyFileError(f"{path.name} is not a regular file")
        chunks, left = [], limit
        while left > 0:
            chunk = os.read(fd, min(left, _WIPE_CHUNK))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks), info.st_mtime
    except OSError as error:
        raise KeyFileError(f"cannot read {path.name}: {error.strerror}") from None
    finally:
        os.close(fd)


def _wipe(path: Path) -> None:
    """Overwrite a key file with zeros, sync it and unlink it; a missing file is already gone."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return
    except OSError as error:
        if error.errno != errno.ELOOP:
            raise KeyFileError(f"cannot wipe {path}: {error.strerror}") from None
        fd = -1  # a symbolic link holds no key material of its own: it is only unlinked
    if fd >= 0:
        try:
            info = os.fstat(fd)
            if stat.S_ISREG(info.st_mode):
                zeros = bytes(min(info.st_size, _WIPE_CHUNK))
                done = 0
                while done < info.st_size:
                    done += os.write(fd, zeros[: info.st_size - done])
                os.fsync(fd)
        except OSError as error:
            raise KeyFileError(f"cannot wipe {path}: {error.strerror}") from None
        finally:
            os.close(fd)
    try:
        path.unlink(missing_ok=True)
    except OSError as error:
        raise KeyFileError(f"cannot unlink {path}: {error.strerror}") from None


def _write_durably(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file, synced and renamed into place."""
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)


def _sync_folder(folder: Path) -> None:
    """Make renames and unlinks in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
