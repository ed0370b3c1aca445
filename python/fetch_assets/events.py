"""The events a fetch reports, for ``on_event``."""

from __future__ import annotations

from typing import Any, Dict, Optional


class Event:
    """One thing that happened during a fetch.

    ``kind`` is the library event's name in snake_case: ``folder_busy``,
    ``folder_not_locked``, ``request``, ``task_polled``, ``api_retry``,
    ``planned``, ``kept``, ``transfer_started``, ``transfer_progress``,
    ``transfer_retry``, ``transfer_restarted``, ``link_expired``,
    ``links_refreshed``, ``connections``, ``file_complete``, ``file_done``,
    ``manifest_written``. Its fields are attributes (``event.status``,
    ``event.bytes``; a ``transfer_progress`` also has ``received``, the
    bytes of the file so far, and ``size``, when announced; ...); ``event.file`` is the file's name in the folder
    (``model.glb``) for an event about one file, and ``event.stem`` its name
    without extension. Durations are seconds. ``task_id`` names the task in
    a ``fetch_many`` run, and is None for a single fetch.
    """

    __slots__ = ("kind", "task_id", "_fields")

    kind: str
    task_id: Optional[str]

    def __init__(self, kind: str, task_id: Optional[str], fields: Dict[str, Any]) -> None:
        self.kind = kind
        self.task_id = task_id
        self._fields = fields

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._fields[name]
        except KeyError:
            raise AttributeError(f"a {self.kind} event has no field {name!r}") from None

    def to_dict(self) -> Dict[str, Any]:
        """``kind``, ``task_id`` and the fields."""
        return {"kind": self.kind, "task_id": self.task_id, **self._fields}

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self._fields.items())
        return f"Event({self.kind}{', ' if fields else ''}{fields})"
