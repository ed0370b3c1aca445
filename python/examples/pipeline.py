"""A pipeline step: fetch a Tripo task's outputs, then hand the files on.

    TRIPO_API_KEY=tsk_... python pipeline.py <task_id> <out_dir>

Every file arrives complete and checked, or the fetch raises; Ctrl-C keeps
what arrived, and running the same command again carries on from it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import fetch_assets as fa


def next_step(path: Path, sha256: str) -> None:
    """Whatever comes next: import into Blender, queue for a render, upload."""
    print(f"next step: {path} (sha256 {sha256[:12]}…)")


def show(event: fa.Event) -> None:
    if event.kind == "task_polled":
        print(f"task {event.status} {event.progress or 0}%")
    elif event.kind == "file_done":
        print(f"{event.file}: {event.size} bytes, verified")


def main(task_id: str, out_dir: str) -> int:
    client = fa.Client()  # TRIPO_API_KEY (and TRIPO_API_BASE) from the environment
    try:
        manifest = client.fetch(task_id, out_dir, on_event=show)
    except fa.TaskFailed as failed:  # the task itself failed: no files to wait for
        print(f"task {task_id} did not succeed: {failed}", file=sys.stderr)
        return failed.exit_code
    except fa.Error as error:  # ApiError, WaitTimeout, DownloadError, UsageError
        print(f"fetch-assets: {error}", file=sys.stderr)
        return error.exit_code
    for file in manifest.files:
        next_step(manifest.dir / file.path, file.sha256)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
