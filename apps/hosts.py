"""Where a desk may be served: a desk without accounts stays on this machine."""

from __future__ import annotations

import ipaddress

from labeling import users
from store.db import Store


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_host(store: Store, host: str) -> None:
    if not users.list_users(store) and not is_loopback(host):
        raise SystemExit(
            f"error: refusing to serve on {host} without accounts: anyone on the network could "
            "judge. Add one with `prefdesk users add NAME --role annotator --db ...`, or serve on 127.0.0.1."
        )
