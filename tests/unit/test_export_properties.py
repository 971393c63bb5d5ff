"""Properties of every export over random judgment logs: counts add up, nothing is invented."""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exports.run import KINDS, ExportOptions, run_export
from exports.select import SelectionPolicy
from labeling.clock import utc_now
from labeling.errors import NothingToUndo
from labeling.ingest import import_files
from labeling.judgments import record_pair_judgment, undo_last
from store.db import open_store
from tests.conftest import write_jsonl

VERDICTS = ("left", "right", "tie", "both_bad")

logs = st.lists(
    st.tuples(
        st.sampled_from(["ana", "bob", "cem"]),  # annotator
        st.integers(0, 30),  # which pair (modulo the number of pairs)
        st.sampled_from(VERDICTS),
        st.booleans(),  # shown with the canonical first response on the left?
        st.integers(0, 9),  # 0 means: undo this annotator's last judgment instead
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    items=st.integers(1, 6),
    responses=st.integers(2, 4),
    log=logs,
    aggregate=st.sampled_from(["majority", "unanimous"]),
    min_agreement=st.sampled_from([0.0, 0.6, 1.0]),
)
def test_every_export_accounts_for_every_judged_pair(
    items: int,
    responses: int,
    log: list[tuple[str, int, str, bool, int]],
    aggregate: str,
    min_agreement: float,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        store = open_store(":memory:")
        records = [
            {
                "id": f"i{n}",
                "prompt": f"Question {n}?",
                "responses": [
                    {"model": f"m{r}", "content": f"Answer {r} to question {n}."} for r in range(responses)
                ],
            }
            for n in range(items)
        ]
        import_files(store, [write_jsonl(folder / "d.jsonl", records)], dataset="d")
        with store.cursor() as cur:
            pairs = cur.execute("SELECT id, response_a_id, response_b_id FROM pairs ORDER BY seq").fetchall()
        # What the log holds, kept here independently: per annotator, their judgments not undone,
        # oldest first. An undo withdraws the latest of them; the one in force on a pair is the
        # latest not undone (an undo gives an earlier judgment of the pair its force back).
        standing: dict[str, list[tuple[str, str, str]]] = {}
        for number, (annotator, which, verdict, canonical, undo) in enumerate(log):
            if undo == 0:
                with contextlib.suppress(NothingToUndo):
                    undo_last(store, annotator=annotator, client_id=f"undo-{number:05d}", now=utc_now)
                if standing.get(annotator):
                    standing[annotator].pop()
                continue
            pair_id, a, b = pairs[which % len(pairs)]
            left, right = (a, b) if canonical else (b, a)
            standing.setdefault(annotator, []).append((pair_id, left, verdict))
            record_pair_judgment(
                store,
                client_id=f"judgment-{number:05d}",
                annotator=annotator,
                pair_id=pair_id,
                left_id=left,
                right_id=right,
                verdict=verdict,
                now=utc_now,
            )
        in_force = sorted(
            (annotator, *latest)
            for annotator, judged in standing.items()
            for latest in {pair_id: (pair_id, left, verdict) for pair_id, left, verdict in judged}.values()
        )
        policy = SelectionPolicy(aggregate=aggregate, min_agreement=min_agreement)
        for kind, targets in KINDS.items():
            for target in targets:
                out = folder / f"{kind}-{target}"
                if kind == "judgments":
                    options = ExportOptions(allow_empty=True)
                else:  # a log may well decide nothing: the counts must add up all the same
                    options = ExportOptions(
                        policy=policy,
                        allow_eval_overlap=kind != "evals",
                        all_items=kind == "evals",
                        allow_empty=True,
                    )
                manifest = run_export(store, out, kind=kind, target=target, options=options, now=utc_now)
                if kind == "judgments":
                    if target == "jsonl":
                        rows = [
                            json.loads(line) for line in (out / "judgments.jsonl").read_text().splitlines()
                        ]
                        assert manifest["records"] == len(rows)
                        assert (
                            sorted(
                                (r["annotator"], r["pair_id"], r["left_response_id"], r["verdict"])
                                for r in rows
                            )
                            == in_force
                        )
                    continue
                skipped = manifest["skipped"]
                decided = manifest["pairs_judged"] - sum(v for k, v in skipped.items() if k != "undone")
                lines = [
                    json.loads(line)
                    for name in manifest["files"].values()
                    for line in (out / name).read_text(encoding="utf-8").splitlines()
                ]
                assert len(lines) == manifest["records"]
                if kind in ("dpo", "reward"):
                    assert manifest["records"] == decided
                if kind in ("sft", "evals"):
                    assert manifest["records"] <= min(decided, items)
                for line in lines:
                    if "chosen" in line:
                        assert line["chosen"] != line["rejected"]
                    if "preferred_output" in line:
                        assert line["preferred_output"] != line["non_preferred_output"]
                    if "label" in line:
                        assert isinstance(line["label"], bool)
        store.close()
