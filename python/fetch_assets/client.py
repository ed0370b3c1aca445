"""The client: ``fetch``, ``fetch_async``, ``fetch_many``; and ``verify``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, List, Optional, Tuple, Union

from . import _native
from .errors import Error, VerifyError
from .events import Event
from .results import Manifest, TaskReport

if TYPE_CHECKING:
    # Imported where used: asyncio is most of the package's import time.
    import asyncio

PathLike = Union[str, "os.PathLike[str]"]
OnEvent = Callable[[Event], object]
OnReport = Callable[[TaskReport], object]


class Client:
    """A client for one API key and base. Reuse it: connections are reused.

    ``api_key`` defaults to ``TRIPO_API_KEY``; ``api_base`` to
    ``TRIPO_API_BASE``, else ``https://openapi.tripo3d.ai``; ``api_version``
    (``"v2"`` or ``"v3"``) to what the base's path suggests. Raises
    ``UsageError`` when there is no key or the base is not an http(s) URL.
    """

    def __init__(
        self,
        api_key: Optional[str] = None,
        api_base: Optional[str] = None,
        api_version: Optional[str] = None,
    ) -> None:
        if api_key is None:
            api_key = os.environ.get("TRIPO_API_KEY")
        if api_base is None:
            api_base = os.environ.get("TRIPO_API_BASE") or None
        self._native = _native.Client(api_key, api_base, api_version)

    def fetch(
        self,
        task_id: str,
        out_dir: PathLike,
        *,
        only: Optional[Iterable[str]] = None,
        force: bool = False,
        concurrency: Optional[int] = None,
        timeout: Optional[float] = None,
        stall_timeout: Optional[float] = None,
        max_size: Optional[int] = None,
        content_check: bool = True,
        on_event: Optional[OnEvent] = None,
    ) -> Manifest:
        """Waits for the task, downloads every output (or those ``only``
        names) into ``out_dir``, verifies them, writes ``manifest.json`` and
        ``SHA256SUMS``, and returns the manifest.

        The GIL is released while it works. ``on_event`` is called in this
        thread for every event; an exception it raises stops the fetch and
        comes out of here. Ctrl-C raises ``KeyboardInterrupt`` within a
        second; what arrived is kept in ``out_dir/.fetch-assets/`` and the
        next call carries on from it. ``timeout`` and ``stall_timeout`` are
        seconds (defaults: 30 minutes, 30 seconds).
        """
        manifest_json, folder = self._native.fetch(
            task_id,
            os.fspath(out_dir),
            _names(only),
            force,
            concurrency,
            timeout,
            stall_timeout,
            max_size,
            content_check,
            _event_callback(on_event),
        )
        return Manifest(manifest_json, folder)

    async def fetch_async(
        self,
        task_id: str,
        out_dir: PathLike,
        *,
        only: Optional[Iterable[str]] = None,
        force: bool = False,
        concurrency: Optional[int] = None,
        timeout: Optional[float] = None,
        stall_timeout: Optional[float] = None,
        max_size: Optional[int] = None,
        content_check: bool = True,
        on_event: Optional[OnEvent] = None,
    ) -> Manifest:
        """``fetch`` for asyncio: the fetch runs on the engine's threads, so
        fetches gathered together run at once. ``on_event`` is called on the
        event loop. Cancelling stops the fetch as Ctrl-C does."""
        import asyncio

        loop = asyncio.get_running_loop()
        done: "asyncio.Future[Tuple[str, Path]]" = loop.create_future()

        def deliver(kind: str, task: Optional[str], fields: Any) -> None:
            if on_event is None or done.done():
                return
            try:
                on_event(Event(kind, task, fields))
            except BaseException as raised:  # noqa: BLE001 - it is the caller's, raised from the await
                handle.cancel()
                done.set_exception(raised)

        def on_engine_event(kind: str, task: Optional[str], fields: Any) -> None:
            _call_soon(loop, deliver, kind, task, fields)

        def on_engine_done(ok: bool, value: Any) -> None:
            _call_soon(loop, _settle, done, ok, value)

        handle = self._native.start_fetch(
            task_id,
            os.fspath(out_dir),
            _names(only),
            force,
            concurrency,
            timeout,
            stall_timeout,
            max_size,
            content_check,
            on_engine_event if on_event is not None else None,
            on_engine_done,
        )
        try:
            manifest_json, folder = await done
        except asyncio.CancelledError:
            handle.cancel()
            raise
        return Manifest(manifest_json, folder)

    def fetch_many(
        self,
        task_ids: Iterable[str],
        out_root: PathLike,
        *,
        concurrency: Optional[int] = None,
        timeout: Optional[float] = None,
        on_report: Optional[OnReport] = None,
        on_event: Optional[OnEvent] = None,
    ) -> List[TaskReport]:
        """Fetches many tasks, each into ``out_root/<task_id>/`` as ``fetch``
        would, and returns each task's report in the order they ended
        (``on_report`` gets each as it ends). A task that fails does not
        raise: its report says why. ``concurrency`` bounds the transfers of
        the whole batch (default 32). Events carry ``task_id``."""
        reports: List[TaskReport] = []

        def report(line: str, manifest_json: Optional[str]) -> None:
            ended = TaskReport(line, manifest_json)
            reports.append(ended)
            if on_report is not None:
                on_report(ended)

        self._native.fetch_many(
            [str(task_id) for task_id in task_ids],
            os.fspath(out_root),
            concurrency,
            timeout,
            report,
            _event_callback(on_event),
        )
        return reports


def verify(out_dir: PathLike) -> Manifest:
    """Re-hashes every file of a folder against its ``manifest.json``, like
    ``fetch-assets verify``: returns the manifest, or raises ``VerifyError``
    (``files`` says which failed and why; a folder with no manifest has
    none)."""
    try:
        manifest_json, verdicts = _native.verify(os.fspath(out_dir))
    except Error as error:
        raise VerifyError(str(error), hint=error.hint) from None
    failed = {path: verdict for path, verdict, ok in verdicts if not ok}
    if failed:
        listed = "; ".join(f"{path}: {verdict}" for path, verdict in failed.items())
        raise VerifyError(
            f"{len(failed)} of {len(verdicts)} files missing or changed in {os.fspath(out_dir)} ({listed})",
            hint="run the fetch again to repair them",
            files=failed,
        )
    return Manifest(manifest_json, out_dir)


def _names(only: Optional[Iterable[str]]) -> Optional[List[str]]:
    if only is None:
        return None
    if isinstance(only, str):
        return [only]
    return list(only)


def _event_callback(on_event: Optional[OnEvent]) -> Optional[Callable[[str, Optional[str], Any], None]]:
    if on_event is None:
        return None

    def callback(kind: str, task: Optional[str], fields: Any) -> None:
        on_event(Event(kind, task, fields))

    return callback


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[..., None], *args: Any) -> None:
    """Hands a call to the loop from an engine thread (nothing to do once it is closed)."""
    try:
        loop.call_soon_threadsafe(callback, *args)
    except RuntimeError:
        pass


def _settle(done: "asyncio.Future[Tuple[str, Path]]", ok: bool, value: Any) -> None:
    if done.done():
        return
    if ok:
        done.set_result(value)
    else:
        done.set_exception(value)
