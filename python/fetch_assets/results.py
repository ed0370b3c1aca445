"""What the calls return: a folder's ``Manifest`` (its ``File``s), and a
``TaskReport`` for each task of ``fetch_many``.

Each is read from the JSON the engine writes, so ``Manifest.to_dict()`` is
``json.load(open(dir / "manifest.json"))`` field for field, and
``TaskReport.to_dict()`` is a ``fetch-assets batch --json`` line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union


class File:
    """One file of the folder, as its manifest entry says."""

    __slots__ = ("_entry", "role", "view", "index", "field", "path", "size", "sha256", "media_type", "source", "aliases")

    role: str
    """``model``, ``pbr_model``, ``multiview``, ... or an open-ended output's name."""
    view: Optional[str]
    """For a multiview image: ``front``, ``left``, ``back``, ``right``."""
    index: Optional[int]
    """For a multiview image: 0 to 3."""
    field: Optional[str]
    """For an open-ended output: where in the task's ``output`` its link was."""
    path: str
    """Its name in the folder (``model.glb``)."""
    size: int
    sha256: str
    media_type: str
    source: str
    """The link it came from, without its query."""
    aliases: Tuple[str, ...]
    """Other outputs whose link was the same file (their file stems)."""

    def __init__(self, entry: Dict[str, Any]) -> None:
        self._entry = entry
        self.role = entry["role"]
        self.view = entry.get("view")
        self.index = entry.get("index")
        self.field = entry.get("field")
        self.path = entry["path"]
        self.size = entry["size"]
        self.sha256 = entry["sha256"]
        self.media_type = entry["media_type"]
        self.source = entry["source"]
        self.aliases = tuple(entry.get("aliases", ()))

    def to_dict(self) -> Dict[str, Any]:
        """The manifest entry, as manifest.json spells it."""
        entry: Dict[str, Any] = json.loads(json.dumps(self._entry))
        return entry

    def __repr__(self) -> str:
        return f"File(path={self.path!r}, role={self.role!r}, size={self.size})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, File) and self._entry == other._entry

    __hash__ = None  # type: ignore[assignment]


class Manifest:
    """A complete folder: its task, and its files in the contract's order."""

    __slots__ = ("_json", "dir", "schema_version", "task_id", "task_type", "create_time", "fetched_at", "generator", "files")

    dir: Path
    """The folder the files are in: ``manifest.dir / file.path`` is a file."""
    schema_version: int
    task_id: str
    task_type: Optional[str]
    create_time: Optional[int]
    """When the task was created, unix seconds."""
    fetched_at: str
    """When the files were fetched, RFC 3339 UTC."""
    generator: str
    files: List[File]

    def __init__(self, manifest_json: str, dir: Union[str, "os.PathLike[str]"]) -> None:
        document = json.loads(manifest_json)
        self._json = manifest_json
        self.dir = Path(os.fspath(dir))
        self.schema_version = document["schema_version"]
        self.task_id = document["task_id"]
        self.task_type = document.get("task_type")
        self.create_time = document.get("create_time")
        self.fetched_at = document["fetched_at"]
        self.generator = document["generator"]
        self.files = [File(entry) for entry in document["files"]]

    def to_dict(self) -> Dict[str, Any]:
        """The manifest.json object, exactly."""
        document: Dict[str, Any] = json.loads(self._json)
        return document

    def path_of(self, file: File) -> Path:
        """Where ``file`` is: ``self.dir / file.path``."""
        return self.dir / file.path

    def __repr__(self) -> str:
        return f"Manifest(task_id={self.task_id!r}, dir={str(self.dir)!r}, files={len(self.files)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Manifest) and (self.to_dict(), self.dir) == (other.to_dict(), other.dir)

    __hash__ = None  # type: ignore[assignment]


class TaskReport:
    """How one task of ``fetch_many`` ended: a ``batch --json`` line."""

    __slots__ = ("_line", "task_id", "dir", "status", "exit_code", "files", "bytes", "error", "manifest")

    task_id: str
    dir: Path
    """``out_root / task_id``."""
    status: str
    """``ok`` or ``error``."""
    exit_code: int
    """The exit code a single-task run would have ended with (0 when ok)."""
    files: int
    """How many files its manifest lists (0 on error)."""
    bytes: int
    """Their total size (0 on error)."""
    error: Optional[str]
    """What went wrong, in words; None when ok."""
    manifest: Optional[Manifest]
    """The task's manifest when ok (not part of the JSON line)."""

    def __init__(self, line: str, manifest_json: Optional[str] = None) -> None:
        document = json.loads(line)
        self._line = line
        self.task_id = document["task_id"]
        self.dir = Path(document["dir"])
        self.status = document["status"]
        self.exit_code = document["exit_code"]
        self.files = document["files"]
        self.bytes = document["bytes"]
        self.error = document.get("error")
        self.manifest = Manifest(manifest_json, self.dir) if manifest_json is not None else None

    @property
    def ok(self) -> bool:
        """True when the task's folder is complete."""
        return self.status == "ok"

    def to_dict(self) -> Dict[str, Any]:
        """The ``batch --json`` line as a dict."""
        document: Dict[str, Any] = json.loads(self._line)
        return document

    def __repr__(self) -> str:
        return f"TaskReport(task_id={self.task_id!r}, status={self.status!r}, exit_code={self.exit_code})"
