"""Properties of every export over random judgment logs: counts add up, nothing is invented."""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
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


def expected_outcomes(
    in_force: list[tuple[str, str, str, str]],
    pair_sides: dict[str, tuple[str, str]],
    aggregate: str,
    min_agreement: float,
) -> tuple[list[tuple[str, str, str]], Counter[str]]:
    """The oracle, from the generated votes alone: the (pair, chosen, rejected) each decided pair
    must export, and how many pairs each skip reason must count. One vote per annotator: a
    response id for "left"/"right" (whichever side it was shown on), or "tie"/"both_bad"."""
    votes: dict[str, list[str]] = {}
    for _, pair_id, left, verdict in in_force:
        a, b = pair_sides[pair_id]
        right = b if left == a else a
        votes.setdefault(pair_id, []).append({"left": left, "right": right}.get(verdict, verdict))
    decided: list[tuple[str, str, str]] = []
    skipped: Counter[str] = Counter()
    for pair_id, cast in votes.items():
        tally = Counter(cast)
        top = max(tally.values())
        leaders = [vote for vote, count in tally.items() if count == top]
        if len(leaders) > 1 or (aggregate == "unanimous" and len(tally) > 1):
            skipped["annotators_disagree"] += 1
        elif top / len(cast) < min_agreement:
            skipped["below_min_agreement"] += 1
        elif leaders[0] in ("tie", "both_bad"):
            skipped[leaders[0]] += 1
        else:
            a, b = pair_sides[pair_id]
            decided.append((pair_id, leaders[0], b if leaders[0] == a else a))
    return sorted(decided), skipped


def answer_text(side: object) -> str:
    """The answer a record's chosen/rejected side holds: its last message's content (TRL
    conversational, reward's whole chats, OpenAI's outputs)."""
    assert isinstance(side, list) and side[-1]["role"] == "assistant"
    return str(side[-1]["content"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Cases the oracle must see whatever hypothesis draws: a majority for the response shown on the
# right and swapped (ana, bob) against one (cem); a split vote; an undo giving a judgment back force.
@example(
    items=1,
    responses=2,
    log=[("ana", 0, "right", False, 5), ("bob", 0, "left", True, 5), ("cem", 0, "right", True, 5)],
    aggregate="majority",
    min_agreement=0.6,
)
@example(
    items=2,
    responses=3,
    log=[("ana", 1, "left", True, 5), ("bob", 1, "right", True, 5), ("ana", 2, "both_bad", False, 5)],
    aggregate="majority",
    min_agreement=0.0,
)
@example(
    items=1,
    responses=2,
    log=[("ana", 0, "left", False, 5), ("ana", 0, "right", False, 5), ("ana", 0, "tie", True, 0)],
    aggregate="unanimous",
    min_agreement=1.0,
)
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
        judged_ever: set[str] = set()
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
            judged_ever.add(pair_id)
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
        pair_sides = {pair_id: (a, b) for pair_id, a, b in pairs}
        expected_pairs, skipped_expected = expected_outcomes(in_force, pair_sides, aggregate, min_agreement)
        skipped_expected["undone"] = len(judged_ever - {pair_id for _, pair_id, _, _ in in_force})
        with store.cursor() as cur:
            response_of = dict(cur.execute("SELECT content, id FROM responses").fetchall())
        assert len(response_of) == items * responses  # every answer's text names one response
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
                assert manifest["pairs_judged"] == len({pair_id for _, pair_id, _, _ in in_force})
                assert {k: v for k, v in skipped.items() if v} == dict(+skipped_expected), kind
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
                if kind in ("dpo", "reward"):  # every decided pair, chosen and rejected as voted
                    chosen, rejected = (
                        ("chosen", "rejected")
                        if target == "trl"
                        else ("preferred_output", "non_preferred_output")
                    )
                    exported = sorted(
                        (response_of[answer_text(line[chosen])], response_of[answer_text(line[rejected])])
                        for line in lines
                    )
                    assert exported == sorted((c, r) for _, c, r in expected_pairs), (kind, target)
                for line in lines:
                    if "chosen" in line:
                        assert line["chosen"] != line["rejected"]
                    if "preferred_output" in line:
                        assert line["preferred_output"] != line["non_preferred_output"]
                    if "label" in line:
                        assert isinstance(line["label"], bool)
        store.close()
