"""Reading the audit log: who changed which account or token, and when (labeling.users and
labeling.tokens write it, in the transaction that makes each change).

    for event in last_events(store, 20):
        print(event.changed_at, event.actor, event.action, event.target, event.detail)
"""

from __future__ import annotations

from store import audit
from store.audit import AuditEvent
from store.db import Store

__all__ = ["AuditEvent", "events_after", "last_events"]


def events_after(store: Store, after_seq: int, limit: int) -> list[AuditEvent]:
    """Events after a sequence number, oldest first: pass the last one's `seq` to read on."""
    with store.cursor() as cur:
        return audit.events_after(cur, after_seq, limit)


def last_events(store: Store, limit: int) -> list[AuditEvent]:
    """The newest `limit` events, oldest first."""
    with store.cursor() as cur:
        return audit.last_events(cur, limit)
