"""The REST API of a real server over HTTP: judging, idempotency, undo, adding items, exports."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from store.db import Store, open_store
from tests.app.conftest import RestDesk, judgment_body, served_desk

pytestmark = pytest.mark.app


def new_id() -> str:
    return uuid.uuid4().hex


def judge(client, verdict: str = "left", client_id: str | None = None, rationale: str = "") -> dict:  # type: ignore[no-untyped-def,type-arg]
    next_pair = client.get("/pairs/next")
    shown = next_pair.json()["pair"]
    body = judgment_body(shown, verdict, rationale=rationale, shown_at=shown["shown_at"])
    if client_id:
        body["client_id"] = client_id
    response = client.post("/judgments", json=body)
    assert response.status_code == 201, response.text
    return {"body": body, "shown": shown, "recorded": response.json(), "answers": [next_pair, response]}


def test_an_annotator_judges_every_pair_once_with_sides_as_shown(rest_desk: RestDesk) -> None:
    with rest_desk.store.cursor() as cur:
        models = {model for (model,) in cur.execute("SELECT DISTINCT model FROM responses").fetchall()}
    assert models == {"bot-v1", "bot-v2"}
    with rest_desk.client("ana") as ana:
        assert ana.get("/me").json() == {"user": "ana", "role": "annotator", "judged": 0, "total": 6}
        seen = set()
        for _ in range(6):
            done = judge(ana, "left")
            seen.add(done["shown"]["pair_id"])
            assert done["recorded"]["preferred_id"] == done["shown"]["left"]["id"]
            for answer in done["answers"]:  # models stay hidden: no model's name, under any key
                assert not [model for model in models if model in answer.text], answer.text
        assert len(seen) == 6
        events = ana.get("/judgments")
        assert not [model for model in models if model in events.text], events.text
        last = ana.get("/pairs/next").json()
        assert last == {"pair": None, "progress": {"judged": 6, "total": 6, "remaining": 0}}
    assert [row[1] for row in rest_desk.judgment_rows()] == ["ana"] * 6


def test_a_retried_submit_records_once_and_a_reused_client_id_is_a_conflict(rest_desk: RestDesk) -> None:
    with rest_desk.client("ana") as ana:
        first = judge(ana, "left")
        again = ana.post("/judgments", json=first["body"])
        assert again.status_code == 200 and again.json()["duplicate"] is True
        changed = ana.post("/judgments", json={**first["body"], "verdict": "right"})
        assert changed.status_code == 409
        assert "already used for a different judgment" in changed.json()["error"]
    assert len(rest_desk.judgment_rows()) == 1


def test_undo_withdraws_the_latest_judgment_and_the_pair_comes_back(rest_desk: RestDesk) -> None:
    with rest_desk.client("ana") as ana:
        done = judge(ana, "right")
        undo_id = new_id()
        undone = ana.post("/undo", json={"client_id": undo_id})
        assert undone.status_code == 200 and undone.json()["id"] == done["recorded"]["id"]
        assert (
            ana.post("/undo", json={"client_id": undo_id}).json()["id"] == done["recorded"]["id"]
        )  # retried
        nothing = ana.post("/undo", json={"client_id": new_id()})
        assert nothing.status_code == 409 and "no judgment of yours left to undo" in nothing.json()["error"]
        assert ana.get("/me").json()["judged"] == 0
        events = ana.get("/judgments").json()["events"]
        assert [e["kind"] for e in events] == ["pair", "undo"]
        assert events[1]["supersedes"] == done["recorded"]["id"]


def test_bad_requests_say_what_was_wrong_as_json(rest_desk: RestDesk) -> None:
    with rest_desk.client("ana") as ana:
        shown = ana.get("/pairs/next").json()["pair"]
        body = {
            "client_id": new_id(),
            "showing_id": shown["showing_id"],
            "pair_id": shown["pair_id"],
            "left_id": shown["left"]["id"],
            "right_id": shown["right"]["id"],
            "verdict": "better",
        }
        bad = ana.post("/judgments", json=body)
        assert bad.status_code == 422
        assert bad.json()["error"].startswith("invalid request: body.verdict:")
        stale = ana.post("/judgments", json={**body, "verdict": "left", "right_id": "ra_0000000000000000"})
        assert stale.status_code == 409
        assert stale.json()["error"].startswith(
            f"the pair and sides sent are not those of showing {shown['showing_id']!r} (item {shown['item_id']!r})"
        )
        for raw in (b"{not json", b'{"verdict": "left"', b"\xff\xfe{}"):  # not JSON, cut short, not UTF-8
            unreadable = ana.post("/judgments", content=raw, headers={"content-type": "application/json"})
            assert unreadable.status_code == 400, raw  # as docs/api.md says: the body could not be read
            assert unreadable.json()["error"].startswith("the body is not valid JSON")
    assert rest_desk.judgment_rows() == []


def test_adding_items_is_all_or_nothing_with_the_importers_messages(rest_desk: RestDesk) -> None:
    good = {
        "id": "new-1",
        "prompt": "Can I gift an ebook?",
        "responses": [{"model": "a", "content": "Yes."}, {"model": "b", "content": "No."}],
    }
    broken = {"id": "new-2", "prompt": "Refund?", "responses": [{"model": "a"}]}
    with rest_desk.client("root") as root:
        refused = root.post("/items", json={"dataset": "inbox", "records": [good, broken]})
        assert refused.status_code == 422
        problem = refused.json()["problems"][0]
        assert problem["line"] == 2 and problem["source"] == "records"
        assert (
            "records (record 2)" in refused.json()["error"]
            and "Nothing was imported" in refused.json()["error"]
        )
        assert root.get("/stats").json()["items"] == 6
        added = root.post("/items", json={"dataset": "inbox", "records": [good]})
        assert added.status_code == 201 and added.json()["pairs_added"] == 1
        assert root.post("/items", json={"dataset": "inbox", "records": [good]}).json()["pairs_added"] == 0
    with rest_desk.client("bob") as bob:
        assert bob.get("/me").json()["total"] == 7


def test_an_admin_exports_and_downloads_a_training_file(rest_desk: RestDesk) -> None:
    with rest_desk.client("ana") as ana:
        for _ in range(3):
            judge(ana, "left")
    with rest_desk.client("root") as root:
        made = root.post("/exports", json={"kind": "dpo", "target": "trl"})
        assert made.status_code == 201, made.text
        export = made.json()
        assert export["records"] == 3
        data_path = export["files"]["dpo_trl.jsonl"]
        downloaded = root.get(data_path.removeprefix("/api/v1"))
        on_disk = (rest_desk.exports_dir / export["folder"] / "dpo_trl.jsonl").read_bytes()
        assert downloaded.status_code == 200 and downloaded.content == on_disk
        assert root.get(f"/exports/{export['folder']}/..%2F..%2Fdesk.duckdb").status_code == 404
        assert root.get("/exports/..%2F..%2F/desk.duckdb").status_code == 404
        refused = root.post("/exports", json={"kind": "kto", "target": "openai"})
        assert refused.status_code == 422 and "kto exports to trl" in refused.json()["error"]


def test_openapi_schema_and_docs_are_served(rest_desk: RestDesk) -> None:
    import httpx

    schema = httpx.get(rest_desk.url + "api/openapi.json").json()
    assert {
        "/api/v1/pairs/next",
        "/api/v1/judgments",
        "/api/v1/undo",
        "/api/v1/items",
        "/api/v1/exports",
    } <= set(schema["paths"])
    assert httpx.get(rest_desk.url + "api/docs").status_code == 200
    assert httpx.get(rest_desk.url).status_code == 200  # the Gradio desk is still at /


def test_each_pair_carries_its_datasets_wording(rest_desk: RestDesk) -> None:
    from labeling.clock import utc_now
    from labeling.wording import set_wording

    neutral = {
        "question": "Which response is better?",
        "user_label": "User",
        "assistant_label": "Assistant",
        "system_label": "System prompt",
    }
    with rest_desk.client("ana") as ana:
        assert judge(ana)["shown"]["wording"] == neutral
        set_wording(
            rest_desk.store,
            "support",
            {"question": "Which reply helps the customer?"},
            set_by="test",
            now=utc_now,
        )
        shown = ana.get("/pairs/next").json()["pair"]
    assert shown["wording"] == {**neutral, "question": "Which reply helps the customer?"}


def test_eval_sets_through_the_api_empty_exports_refused_and_registrations_undone(
    rest_desk: RestDesk,
) -> None:
    with rest_desk.client("ana") as ana:
        for _ in range(3):
            judge(ana, "left")
    with rest_desk.client("root") as root:
        unchosen = root.post("/exports", json={"kind": "evals", "target": "openai-evals"})
        assert unchosen.status_code == 422
        assert unchosen.json()["error"].startswith("an eval set needs its items chosen: --eval-fraction F")
        made = root.post("/exports", json={"kind": "evals", "target": "openai-evals", "all_items": True})
        assert made.status_code == 201, made.text
        eval_set = made.json()
        assert eval_set["records"] == 3 and eval_set["manifest"]["eval_registry"]["new"] == 3
        listed = root.get("/eval-sets").json()
        assert [(s["export_id"], s["items"], s["removed_at"]) for s in listed] == [
            (eval_set["export_id"], 3, None)
        ]
        items = root.get(f"/eval-sets/{eval_set['export_id'][:8]}/items").json()
        assert len(items) == 3 and all(item_id.startswith("support/") for item_id in items)

        refused = root.post("/exports", json={"kind": "dpo", "target": "trl"})
        assert refused.status_code == 422
        assert refused.json()["error"].startswith(
            "dpo trl would write 0 records: all 3 record(s) are of items kept out as eval items, registered by "
            f"eval set(s) {eval_set['export_id'][:8]} (evals/openai-evals, "
        )
        empty = root.post("/exports", json={"kind": "dpo", "target": "trl", "allow_empty": True})
        assert empty.status_code == 201 and empty.json()["records"] == 0
        *_, why_empty, no_rows = empty.json()["manifest"]["warnings"]
        assert why_empty.startswith("this export has 0 records (written anyway")
        assert no_rows.startswith("its files hold no rows: datasets.load_dataset cannot read this folder")

        removed = root.delete(f"/eval-sets/{eval_set['export_id'][:8]}")
        assert removed.status_code == 200, removed.text
        assert removed.json()["freed"] == 3 and removed.json()["still_held"] == []
        assert removed.json()["eval_set"]["removed_at"] is not None
        assert root.delete(f"/eval-sets/{eval_set['export_id']}").status_code == 422  # removed already
        assert root.delete("/eval-sets/ffffffff").status_code == 404
        trained = root.post("/exports", json={"kind": "dpo", "target": "trl"})
        assert trained.status_code == 201 and trained.json()["records"] == 3
        table = root.post("/exports", json={"kind": "judgments", "target": "csv"})
        assert table.status_code == 201 and table.json()["records"] == 3
    with rest_desk.client("ana") as ana:
        assert ana.get("/eval-sets").status_code == 403


def engine_threads(store: Store) -> int:
    with store.cursor() as cur:
        row = cur.execute("SELECT current_setting('threads')").fetchone()
    assert row is not None
    return int(row[0])


def test_the_serving_store_runs_the_engines_own_thread_count_unless_told(
    rest_desk: RestDesk, tmp_path: Path
) -> None:
    unserved = open_store(":memory:")
    try:
        assert engine_threads(rest_desk.store) == engine_threads(unserved)
    finally:
        unserved.close()
    (tmp_path / "more").mkdir()
    with served_desk(tmp_path / "more", engine_threads=3) as desk:
        assert engine_threads(desk.store) == 3
        with desk.client("ana") as ana:
            judge(ana)
