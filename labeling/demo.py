"""The bundled demo: customer-support emails to a publisher, two candidate replies each.

The demo file opens with a dataset header that sets the support wording: the Compare screen asks
"Which reply answers the customer better?" and labels user turns "Customer" (any other dataset
is asked neutrally unless it sets its own wording).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from importlib import resources
from pathlib import Path

from labeling import users
from labeling.ingest import ImportReport, import_files
from store.db import Store

DEMO_DATASET = "demo_support"
DEMO_USER = "demo"
DEMO_PASSWORD = "demo-password"


def demo_dataset_path() -> Path:
    return Path(str(resources.files("labeling").joinpath("fixtures", "demo_support.jsonl")))


def prepare_demo(store: Store, now: Callable[[], datetime]) -> ImportReport:
    """Import the demo emails and their wording (idempotent) and make sure the demo annotator
    exists."""
    report = import_files(store, [demo_dataset_path()], dataset=DEMO_DATASET, now=now)
    if users.get_user(store, DEMO_USER) is None:
        users.add_user(store, DEMO_USER, "annotator", DEMO_PASSWORD, now)
    return report
