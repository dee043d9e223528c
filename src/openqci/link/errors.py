"""Exceptions of the QKD link engine.

The tree::

    OpenQciError
    └── LinkError (also a ValueError)
        ├── InvalidLinkParameterError   an option outside its range, or an unknown name (the message lists
        │                               the valid ones)
        ├── ReconcilerUnavailableError  a reconciliation method whose module cannot be imported
        └── AuthenticationKeyError      the pre-shared authentication key ran out

A block that fails a security check is not an error: it is a recorded abort with an
:class:`~openqci.link.session.AbortReason`, and the link goes on with the next block.
"""

from __future__ import annotations

from openqci.errors import OpenQciError

__all__ = [
    "AuthenticationKeyError",
    "InvalidLinkParameterError",
    "LinkError",
    "ReconcilerUnavailableError",
]


class LinkError(OpenQciError, ValueError):
    """Base of every error raised by :mod:`openqci.link`."""


class InvalidLinkParameterError(LinkError):
    """A link option lies outside its range or names something that does not exist."""


class ReconcilerUnavailableError(LinkError):
    """The reconciliation method asked for is not installed in this build."""


class AuthenticationKeyError(LinkError):
    """The pool of pre-shared authentication key holds fewer bits than a tag needs."""
