"""Exceptions of the network layer: scenario files and key-aware routing.

The tree::

    OpenQciError
    └── NetworkError
        ├── ScenarioError      a scenario file that cannot be read or breaks the format; the message names
        │                      the file, the entry and the field
        ├── RoutingError
        │   ├── UnknownKmeError   a route asked for between KMEs the graph does not hold
        │   └── NoRouteError      no usable path; the message says which links are down, drained or
        │                         alarmed, or that no physical path exists
        ├── UnknownLinkError   a report or command names a link or KME the running network does not have
        └── LaunchError        a network could not be started, stopped or reached; the message says what
                               failed and where its log is

Callers (the CLI, the controller) catch ``NetworkError`` and show its message as a one-line error; the
KME's relay turns a ``NoRouteError`` into an HTTP 503 with the same message.
"""

from __future__ import annotations

from openqci.errors import OpenQciError

__all__ = [
    "LaunchError",
    "NetworkError",
    "NoRouteError",
    "RoutingError",
    "ScenarioError",
    "UnknownKmeError",
    "UnknownLinkError",
]


class NetworkError(OpenQciError):
    """Base of every error raised by :mod:`openqci.network`."""


class ScenarioError(NetworkError, ValueError):
    """A scenario file is unreadable, is not YAML, or breaks the scenario format.

    ``problems`` lists every problem found, each as ``entry: field: what is wrong``; the message shows the
    file and the first problem, and says how many more there are.
    """

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        super().__init__(f"{path}: {problems[0]}{more}")


class RoutingError(NetworkError):
    """Base of the errors of key-aware routing."""


class UnknownKmeError(RoutingError, KeyError):
    """A route was asked for from or to a KME that is not a node of the graph."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class NoRouteError(RoutingError):
    """No path of usable links joins the two KMEs; the message says why."""


class UnknownLinkError(NetworkError, KeyError):
    """A report or a command names a link (or a link end) that the network does not have."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class LaunchError(NetworkError):
    """A network could not be started, stopped or reached; the message says what failed and what to do."""
