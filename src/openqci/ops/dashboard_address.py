"""The address of a running network's dashboard, with the token that signs the browser in once."""

from __future__ import annotations

from urllib.parse import quote

from openqci.network.statedir import StateDir, read_secret, read_state

__all__ = ["dashboard_url"]


def dashboard_url(layout: StateDir) -> str:
    """``http://127.0.0.1:PORT/dashboard/?token=...`` of the network running from ``layout``."""
    state = read_state(layout)
    token = read_secret(layout.token_file).decode()
    return f"{state.controller_url}/dashboard/?token={quote(token, safe='')}"
