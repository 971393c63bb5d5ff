"""Many annotators at once through the REST API of a real server: every acknowledged judgment is
stored once, retries store nothing new, and with an overlap no pair is judged more often than
asked."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.app.conftest import RestDesk, judgment_body, start_rest_desk

pytestmark = pytest.mark.app

ANNOTATORS = tuple(f"a{n:02d}" for n in range(32))


def judge_until_done(desk: RestDesk, name: str, limit: int) -> list[str]:
    """Judge up to `limit` pairs, sending every submit twice (a retry after a lost answer)."""
    acknowledged = []
    with desk.client(name) as client:
        for _ in range(limit):
            shown = client.get("/pairs/next").json()["pair"]
            if shown is None:
                break
            body = judgment_body(shown)
            first, retry = client.post("/judgments", json=body), client.post("/judgments", json=body)
            assert first.status_code == 201, first.text
            assert retry.status_code == 200 and retry.json()["duplicate"]
            acknowledged.append(f"{name}/{body['client_id']}")  # client ids are per annotator
    return acknowledged


def run_annotators(desk: RestDesk, limit: int) -> list[str]:
    with ThreadPoolExecutor(len(ANNOTATORS)) as pool:
        batches = list(pool.map(lambda name: judge_until_done(desk, name, limit), ANNOTATORS))
    return [client_id for batch in batches for client_id in batch]


def test_32_annotators_with_overlap_1_judge_every_pair_exactly_once(tmp_path: Path) -> None:
    desk, server = start_rest_desk(tmp_path, items=160, annotators=ANNOTATORS, overlap=1)
    try:
        acknowledged = run_annotators(desk, limit=1000)
        rows = desk.judgment_rows()
    finally:
        server.close()
        desk.store.close()
    assert len(acknowledged) == 160
    assert sorted(row[0] for row in rows) == sorted(acknowledged)  # every one stored, none twice
    assert Counter(row[2] for row in rows).most_common(1)[0][1] == 1  # no pair judged twice
    assert len({row[2] for row in rows}) == 160


def test_32_annotators_without_overlap_each_judge_their_own_pairs_once(tmp_path: Path) -> None:
    desk, server = start_rest_desk(tmp_path, items=12, annotators=ANNOTATORS)
    try:
        acknowledged = run_annotators(desk, limit=5)
        rows = desk.judgment_rows()
    finally:
        server.close()
        desk.store.close()
    assert len(acknowledged) == 32 * 5
    assert sorted(row[0] for row in rows) == sorted(acknowledged)
    assert len({(row[1], row[2]) for row in rows}) == len(rows)  # no annotator judged a pair twice
    votes = Counter(row[2] for row in rows)
    assert max(votes.values()) - min(votes.values()) <= 1  # least-judged first spreads the work
