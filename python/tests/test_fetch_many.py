"""`Client.fetch_many`: many tasks, each into its own folder, each ending
with a report like a `batch --json` line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import fetch_assets as fa

SECOND = "b2000000-0000-4000-8000-000000000002"
FAILED = "b3000000-0000-4000-8000-000000000003"


def test_each_task_ends_with_a_report(fake, tmp_path: Path) -> None:
    service = fake(
        {
            "fixture": "v3_model_pbr_same",
            "tasks": {
                SECOND: {"fixture": "v3_bare_task", "phases": [["running", 0.3]]},
                FAILED: {"fixture": "failed"},
            },
        }
    )
    heard: list[fa.TaskReport] = []
    events: list[fa.Event] = []

    reports = service.client().fetch_many(
        [service.task_id, SECOND, FAILED, SECOND],
        tmp_path,
        on_report=heard.append,
        on_event=events.append,
    )

    assert reports == heard
    by_id = {r.task_id: r for r in reports}
    assert sorted(by_id) == sorted([service.task_id, SECOND, FAILED]), "repeats count once"
    ok = by_id[SECOND]
    assert ok.ok and ok.status == "ok" and ok.exit_code == 0 and ok.error is None
    assert ok.dir == tmp_path / SECOND
    assert ok.manifest is not None and fa.verify(ok.dir) == ok.manifest
    assert ok.files == len(ok.manifest.files) and ok.bytes == sum(f.size for f in ok.manifest.files)
    assert list(ok.to_dict()) == ["task_id", "dir", "status", "exit_code", "files", "bytes", "error"]
    assert ok.to_dict() == json.loads(json.dumps(ok.to_dict()))
    failed = by_id[FAILED]
    assert (failed.status, failed.exit_code, failed.files, failed.manifest) == ("error", 6, 0, None)
    assert failed.error is not None and "failed" in failed.error

    assert {e.task_id for e in events if e.task_id} == {service.task_id, SECOND, FAILED}
    # Only the batch's own requests (the list rounds) are about no one task.
    assert {e.kind for e in events if e.task_id is None} <= {"request"}
    done = [(e.task_id, e.file) for e in events if e.kind == "file_done"]
    assert (SECOND, "model.glb") in done and (service.task_id, "model.glb") in done


def test_an_invalid_id_stops_the_batch_before_any_request(fake, tmp_path: Path) -> None:
    service = fake({"fixture": "v3_bare_task"})
    with pytest.raises(fa.UsageError):
        service.client().fetch_many([service.task_id, "not/an/id"], tmp_path)
    assert service.stats()["task_requests"] == 0
