"""Event logs: one JSON object per line, a readable line on a terminal, and files that stop growing."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from openqci.ops.events import Event, configure_logging, log_event


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("openqci").setLevel(logging.NOTSET)


@pytest.mark.usefixtures("restore_logging")
def test_an_event_is_one_json_line_with_its_fields() -> None:
    stream = io.StringIO()
    configure_logging("info", stream=stream, human=False)
    log_event(logging.getLogger("openqci.test"), Event.ALARM_RAISED, "qber-high on ab", link="ab", qber=0.13)
    logging.getLogger("openqci.test").debug("not at info")
    (line,) = stream.getvalue().splitlines()
    record = json.loads(line)
    assert record["event"] == "alarm.raised"
    assert (record["link"], record["qber"], record["level"]) == ("ab", 0.13, "info")
    assert record["message"] == "qber-high on ab"


@pytest.mark.usefixtures("restore_logging")
def test_the_human_format_is_one_readable_line() -> None:
    stream = io.StringIO()
    configure_logging("debug", stream=stream, human=True)
    log_event(logging.getLogger("openqci.test"), Event.LINK_DOWN, "link ab is down", link="ab")
    (line,) = stream.getvalue().splitlines()
    assert "link.down" in line
    assert line.endswith("link ab is down  link=ab")


@pytest.mark.usefixtures("restore_logging")
def test_a_log_file_is_rotated_and_bounded(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "node.log"
    configure_logging("info", file=log, max_bytes=4096, backups=2)
    logger = logging.getLogger("openqci.test")
    for i in range(2000):  # about 200 kB of events: fifty times the cap
        log_event(logger, Event.REQUEST_REFUSED, f"request {i} refused", reason="no key")
    files = sorted(log.parent.iterdir())
    assert [f.name for f in files] == ["node.log", "node.log.1", "node.log.2"]
    assert all(f.stat().st_size <= 4096 for f in files)
    last = json.loads(log.read_text().splitlines()[-1])
    assert last["message"] == "request 1999 refused"


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="log level"):
        configure_logging("loud")
    with pytest.raises(ValueError, match="log_max_bytes"):
        configure_logging("info", max_bytes=10)
