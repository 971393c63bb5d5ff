"""Schemathesis against the API's own OpenAPI schema: generated requests, valid and invalid,
never cause a server error, and every answer matches the documented status codes and shapes.

The app is built at import (schemathesis parametrizes at collection) on a store in a temporary
folder; its pytest fixture loader does not work with this pytest.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from apps.api import build_api
from labeling import tokens, users
from labeling.clock import utc_now
from labeling.desk import Desk
from labeling.ingest import import_files
from store.db import open_store
from tests.conftest import PASSWORD, support_records, write_jsonl

pytestmark = pytest.mark.app

_FOLDER = Path(tempfile.mkdtemp(prefix="prefdesk-schema-"))
_STORE = open_store(_FOLDER / "desk.duckdb")
import_files(_STORE, [write_jsonl(_FOLDER / "s.jsonl", support_records(20))], dataset="support")
users.add_user(_STORE, "root", "admin", PASSWORD, utc_now)
users.add_user(_STORE, "ana", "annotator", PASSWORD, utc_now)
ADMIN_TOKEN = tokens.create_token(_STORE, "root", "schemathesis", utc_now)[0]
atexit.register(lambda: (_STORE.close(), shutil.rmtree(_FOLDER, ignore_errors=True)))

schema = schemathesis.openapi.from_asgi("/api/openapi.json", build_api(Desk(_STORE), _FOLDER / "exports"))


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented(case: schemathesis.Case) -> None:
    if case.path_parameters and "token_id" in case.path_parameters:
        case.path_parameters["token_id"] = "ffffffff"  # revoking the admin's own token ends the run
    if case.path_parameters and "name" in case.path_parameters:
        case.path_parameters["name"] = "ana"  # a real account, never the admin whose token runs this
    # Whether records import, or a pair id exists, depends on the formats and the stored state,
    # which no schema can say: refusals of schema-valid input (and the reverse) are by design.
    case.call_and_validate(
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        excluded_checks=[checks.positive_data_acceptance, checks.negative_data_rejection],
    )


def test_request_fields_take_their_limits_from_the_domain() -> None:
    """The schema says what the domain checks: a change to a rule changes both at once."""
    from apps.api_models import ItemsIn, JudgmentIn
    from labeling.models import CLIENT_ID_PATTERN, DATASET_NAME_PATTERN, MAX_RATIONALE, STRENGTHS, VERDICTS

    judgment = JudgmentIn.model_json_schema()["properties"]
    assert judgment["verdict"]["enum"] == list(VERDICTS) == ["left", "right", "tie", "both_bad"]
    assert judgment["client_id"]["pattern"] == CLIENT_ID_PATTERN
    assert judgment["rationale"]["maxLength"] == MAX_RATIONALE
    strength = judgment["strength"]["anyOf"][0]
    assert (strength["minimum"], strength["maximum"]) == (min(STRENGTHS), max(STRENGTHS))
    assert ItemsIn.model_json_schema()["properties"]["dataset"]["pattern"] == DATASET_NAME_PATTERN
