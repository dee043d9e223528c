"""The demonstration asks for its route only once the route's links hold key, within the start-up's bound.

``network up`` returns once every process serves; the links' first key and the KMEs' first reports come
after. Asked at once, the controller found every link drained and the demonstration stopped (seen on a
fast machine). These tests drive the wait with a controller whose answers are scripted.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from openqci.demo.run import DemoSettings, _first_route
from openqci.network.errors import LaunchError, NoRouteError

DRAINED = "no route from a to b for 512 key bits: every path crosses an unusable link (drained a-b (0 bits))"


class _Controller:
    """Answers ``route`` with NoRouteError until ``ready_after`` calls have been made."""

    def __init__(self, ready_after: int) -> None:
        self.calls = 0
        self.ready_after = ready_after

    def route(self, source: str, target: str, bits: int) -> dict[str, Any]:
        self.calls += 1
        if self.calls <= self.ready_after:
            raise NoRouteError(DRAINED)
        return {"kmes": [source, target], "links": ["a-b"], "bits": bits}


class _Observer:
    def __init__(self) -> None:
        self.phases: list[str] = []

    def phase(self, name: str) -> None:
        self.phases.append(name)


def test_the_route_is_asked_again_until_its_links_hold_key() -> None:
    controller, observer = _Controller(ready_after=2), _Observer()
    settings = DemoSettings(master_kme="a", slave_kme="b")
    route = _first_route(settings, controller, observer, deadline=time.monotonic() + 30)  # type: ignore[arg-type]
    assert route["kmes"] == ["a", "b"]
    assert controller.calls == 3
    assert observer.phases == ["waiting for key on a route from a to b"]


def test_a_route_that_never_holds_key_ends_the_start_up_with_the_controllers_reason() -> None:
    controller = _Controller(ready_after=10**6)
    settings = DemoSettings(master_kme="a", slave_kme="b", launch_timeout_s=1.0)
    with pytest.raises(LaunchError, match=r"within launch_timeout_s \(1 s\): no route .*drained a-b"):
        _first_route(settings, controller, _Observer(), deadline=time.monotonic() + 1.0)  # type: ignore[arg-type]
    assert controller.calls >= 2
