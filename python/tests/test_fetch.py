"""A whole task through `Client.fetch`: the files, the manifest, the events."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import fetch_assets as fa


def test_a_whole_task_arrives_with_its_manifest_and_every_event(fake, tmp_path: Path) -> None:
    service = fake(
        {
            "fixture": "v2_all_outputs",
            "phases": [["running", 0.6]],
            "phases_from_first_request": True,
            "files": {"model.glb": 300_000},
            "faults": {"model.glb": {"refuse_first": 1, "cut_after": 100_000}},
        }
    )
    out = tmp_path / "out"
    events: list[fa.Event] = []

    manifest = service.client("v2").fetch(service.task_id, out, on_event=events.append)

    assert manifest.task_id == service.task_id
    assert manifest.dir == out
    on_disk = json.loads((out / "manifest.json").read_text())
    assert manifest.to_dict() == on_disk
    assert [f.to_dict() for f in manifest.files] == on_disk["files"]
    assert len(manifest.files) == 10
    for file in manifest.files:
        content = (manifest.dir / file.path).read_bytes()
        assert len(content) == file.size
        assert hashlib.sha256(content).hexdigest() == file.sha256
    model = next(f for f in manifest.files if f.role == "model")
    assert model.path == "model.glb"
    assert model.sha256 == service.file("model.glb")["sha256"]
    assert "?" not in model.source, "a signed link is never shown with its query"
    views = [f for f in manifest.files if f.role == "multiview"]
    assert [(f.view, f.index) for f in views] == [("front", 0), ("left", 1), ("back", 2), ("right", 3)]
    assert sorted(p.name for p in out.iterdir()) == sorted([f.path for f in manifest.files] + ["SHA256SUMS", "manifest.json"])

    kinds = [e.kind for e in events]
    for kind in [
        "task_polled",
        "planned",
        "transfer_started",
        "transfer_progress",
        "link_expired",
        "links_refreshed",
        "transfer_retry",
        "file_complete",
        "file_done",
        "manifest_written",
    ]:
        assert kind in kinds, f"no {kind} event in {sorted(set(kinds))}"
    assert kinds[-1] == "manifest_written"
    polled = [e for e in events if e.kind == "task_polled"]
    assert polled[0].status == "running" and polled[-1].status == "success"
    planned = next(e for e in events if e.kind == "planned")
    assert [f["file"] for f in planned.files][:1] == ["model.glb"]
    done = {e.file: e for e in events if e.kind == "file_done"}
    assert set(done) == {f.path for f in manifest.files}
    assert done["model.glb"].sha256 == model.sha256 and done["model.glb"].size == model.size
    assert done["model.glb"].stem == "model"
    retried = next(e for e in events if e.kind == "transfer_retry")
    assert retried.file == "model.glb" and retried.resume_from > 0 and retried.delay >= 0
    progress = sum(e.bytes for e in events if e.kind == "transfer_progress" and e.file == "model.glb")
    assert progress >= model.size
    last = [e for e in events if e.kind == "transfer_progress" and e.file == "model.glb"][-1]
    assert last.received == model.size and last.size == model.size, "a bar needs no map of its own"
    assert all(e.task_id is None for e in events)
    written = events[-1]
    assert Path(written.path) == out / "manifest.json"

    assert fa.verify(out) == manifest


def test_only_and_a_second_run_that_keeps_what_is_complete(fake, tmp_path: Path) -> None:
    service = fake({"fixture": "v3_bare_task"})
    client = service.client()
    first = client.fetch(service.task_id, tmp_path, only=["model"])
    assert [f.path for f in first.files] == ["model.glb"]
    requests = len(service.stats()["cdn_requests"])

    events: list[fa.Event] = []
    again = client.fetch(service.task_id, tmp_path, only="model", on_event=events.append)

    assert again.files == first.files
    assert len(service.stats()["cdn_requests"]) == requests, "a complete file is kept, not fetched again"
    kept = next(e for e in events if e.kind == "kept")
    assert kept.files == ["model.glb"]


def test_the_client_reads_the_key_and_base_from_the_environment(fake, tmp_path: Path, monkeypatch) -> None:
    service = fake({"fixture": "v3_bare_task"})
    monkeypatch.setenv("TRIPO_API_KEY", service.api_key)
    monkeypatch.setenv("TRIPO_API_BASE", service.v3_base)

    manifest = fa.Client().fetch(service.task_id, tmp_path)

    assert manifest.task_id == service.task_id
    assert all(r["had_valid_key"] for r in service.stats()["api_requests"])
