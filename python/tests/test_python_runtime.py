"""How the engine behaves inside Python: the GIL released while it works,
real asyncio concurrency, Ctrl-C that keeps what arrived, an exception from
`on_event` that stops the fetch, and a runtime that survives `fork`."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from pathlib import Path
from typing import Dict, List

import pytest

import fetch_assets as fa

MIB = 1 << 20
OTHER_TASK = "b2000000-0000-4000-8000-000000000002"


def slow_model(size: int, rate: int) -> dict:
    """The bare task with a big model served at `rate` bytes a second."""
    return {
        "fixture": "v3_bare_task",
        "files": {"model.glb": size},
        "faults": {"model.glb": {"throttle": rate}},
    }


def test_other_threads_run_while_a_fetch_works(fake, tmp_path: Path) -> None:
    service = fake(slow_model(MIB, MIB))  # about a second of transfer
    ticks = 0
    stop = threading.Event()

    def tick() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            time.sleep(0.005)

    ticker = threading.Thread(target=tick)
    ticker.start()
    try:
        before = ticks
        service.client().fetch(service.task_id, tmp_path)
        during = ticks - before
    finally:
        stop.set()
        ticker.join()
    # A fetch holding the GIL for its second would let the ticker tick
    # once or twice at most.
    assert during >= 20, f"the ticking thread ticked {during} times during the fetch"


def test_two_fetches_under_gather_run_at_once(fake, tmp_path: Path) -> None:
    spec = slow_model(MIB, MIB)
    spec["tasks"] = {OTHER_TASK: {"fixture": "v3_bare_task"}}
    service = fake(spec)
    client = service.client()
    started: Dict[str, float] = {}
    finished: Dict[str, float] = {}
    threads = set()

    def watch(name: str):
        def on_event(event: fa.Event) -> None:
            threads.add(threading.get_ident())
            if event.kind == "transfer_started" and event.file == "model.glb":
                started.setdefault(name, time.monotonic())
            if event.kind == "file_complete" and event.file == "model.glb":
                finished[name] = time.monotonic()

        return on_event

    async def both() -> List[fa.Manifest]:
        return await asyncio.gather(
            client.fetch_async(service.task_id, tmp_path / "a", on_event=watch("a")),
            client.fetch_async(OTHER_TASK, tmp_path / "b", on_event=watch("b")),
        )

    a, b = asyncio.run(both())

    assert (a.task_id, b.task_id) == (service.task_id, OTHER_TASK)
    assert fa.verify(tmp_path / "a") == a and fa.verify(tmp_path / "b") == b
    # Each model's transfer began before the other's ended.
    assert max(started.values()) < min(finished.values()), (started, finished)
    assert threads == {threading.get_ident()}, "on_event runs on the event loop's thread"


def test_an_async_fetch_raises_the_library_errors(fake, tmp_path: Path) -> None:
    service = fake({"fixture": "v3_bare_task", "damaged": ["model.glb"]})
    with pytest.raises(fa.DownloadError):
        asyncio.run(service.client().fetch_async(service.task_id, tmp_path))


def test_ctrl_c_keeps_what_arrived_and_the_next_call_fetches_only_the_rest(fake, tmp_path: Path) -> None:
    # Under 8 MiB: one stream, whose resume is one ranged request (a bigger
    # file comes in parts at once, each resumed where it stood).
    size = 6 * MIB
    service = fake(slow_model(size, 4 * MIB))  # about two seconds

    def interrupt_at_a_quarter() -> None:
        deadline = time.monotonic() + 30
        while service.bytes_sent_for("model.glb") < size // 4:
            if time.monotonic() > deadline:
                return  # the fetch ended some other way: pytest.raises says so
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGINT)

    interrupter = threading.Thread(target=interrupt_at_a_quarter)
    interrupter.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            service.client().fetch(service.task_id, tmp_path)
    finally:
        interrupter.join()

    assert sorted(p.name for p in tmp_path.iterdir()) == [".fetch-assets"], "only what arrived is kept"
    kept = (tmp_path / ".fetch-assets" / "model.part").stat().st_size
    assert size // 8 <= kept < size
    asked = len(service.cdn_requests("model.glb"))

    manifest = service.client().fetch(service.task_id, tmp_path)

    again = service.cdn_requests("model.glb")[asked:]
    assert [r["range"] for r in again] == [f"bytes={kept}-"]
    assert sum(r["body_bytes_sent"] for r in again) == size - kept, "only the missing bytes"
    assert manifest.files[0].sha256 == service.file("model.glb")["sha256"]
    assert not (tmp_path / ".fetch-assets").exists()


def test_an_exception_from_on_event_stops_the_fetch_and_comes_out(fake, tmp_path: Path) -> None:
    service = fake(slow_model(4 * MIB, 4 * MIB))

    class Enough(Exception):
        pass

    def on_event(event: fa.Event) -> None:
        if event.kind == "transfer_progress" and event.file == "model.glb":
            raise Enough("the pipeline said stop")

    with pytest.raises(Enough, match="the pipeline said stop"):
        service.client().fetch(service.task_id, tmp_path, on_event=on_event)
    assert (tmp_path / ".fetch-assets" / "model.part").exists(), "what arrived is kept"
    assert not (tmp_path / "manifest.json").exists()

    manifest = service.client().fetch(service.task_id, tmp_path)
    assert fa.verify(tmp_path) == manifest


def test_an_exception_from_on_event_stops_an_async_fetch(fake, tmp_path: Path) -> None:
    service = fake(slow_model(4 * MIB, 4 * MIB))

    def on_event(event: fa.Event) -> None:
        if event.kind == "transfer_progress":
            raise LookupError("stop here")

    with pytest.raises(LookupError, match="stop here"):
        asyncio.run(service.client().fetch_async(service.task_id, tmp_path, on_event=on_event))
    assert not (tmp_path / "manifest.json").exists()


def test_a_cancelled_async_fetch_keeps_what_arrived(fake, tmp_path: Path) -> None:
    size = 6 * MIB  # one stream (under 8 MiB), as above
    service = fake(slow_model(size, 4 * MIB))
    client = service.client()

    async def cancel_once_bytes_arrive() -> None:
        arrived = asyncio.Event()
        received = 0

        def on_event(event: fa.Event) -> None:
            nonlocal received
            if event.kind == "transfer_progress":
                received += event.bytes
                if received >= size // 4:
                    arrived.set()

        fetch = asyncio.ensure_future(client.fetch_async(service.task_id, tmp_path, on_event=on_event))
        await arrived.wait()
        fetch.cancel()
        with pytest.raises(asyncio.CancelledError):
            await fetch

    asyncio.run(cancel_once_bytes_arrive())
    asked = len(service.cdn_requests("model.glb"))
    # The fetch is dropped on the engine's threads; the next call waits for
    # its folder lock, so it sees what the dropped one kept.

    manifest = client.fetch(service.task_id, tmp_path)

    again = service.cdn_requests("model.glb")[asked:]
    assert len(again) == 1 and again[0]["range"] is not None, "the next call resumes"
    assert fa.verify(tmp_path) == manifest


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_a_forked_child_fetches_with_the_parents_client(fake, tmp_path: Path) -> None:
    spec = {"fixture": "v3_bare_task", "tasks": {OTHER_TASK: {"fixture": "v3_bare_task"}}}
    service = fake(spec)
    client = service.client()
    client.fetch(service.task_id, tmp_path / "parent")  # the runtime and a connection exist

    child = os.fork()
    if child == 0:
        code = 1
        try:
            client.fetch(OTHER_TASK, tmp_path / "child")
            fa.verify(tmp_path / "child")
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)

    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert fa.verify(tmp_path / "child").task_id == OTHER_TASK
    # The parent's runtime still works too.
    assert client.fetch(service.task_id, tmp_path / "parent").task_id == service.task_id
