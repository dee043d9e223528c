"""Exceptions of the network runtime: key-aware routing, the controller and the launcher.

The tree (a scenario file's problems are :class:`openqci.scenario.ScenarioError`, a sibling of
``NetworkError`` under ``OpenQciError``)::

    OpenQciError
    └── NetworkError
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
    "UnknownKmeError",
    "UnknownLinkError",
]


class NetworkError(OpenQciError):
    """Base of every error raised by :mod:`openqci.network`."""


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
