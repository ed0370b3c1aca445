"""fetch-assets: wait for a Tripo 3D task, then download every output before
its signed links expire, each verified, with a checksummed manifest.

    import fetch_assets as fa

    manifest = fa.Client().fetch(task_id, "out")
    for file in manifest.files:
        print(manifest.dir / file.path, file.sha256)

The same engine as the ``fetch-assets`` command, with the same guarantees:
no file under its final name before it is complete and checked, links
renewed when they die, cut transfers resumed, and what arrived kept across
Ctrl-C for the next call.
"""

from ._native import __version__
from .client import Client, verify
from .errors import ApiError, DownloadError, Error, TaskFailed, UsageError, VerifyError, WaitTimeout
from .events import Event
from .results import File, Manifest, TaskReport

__all__ = [
    "ApiError",
    "Client",
    "DownloadError",
    "Error",
    "Event",
    "File",
    "Manifest",
    "TaskFailed",
    "TaskReport",
    "UsageError",
    "VerifyError",
    "WaitTimeout",
    "__version__",
    "verify",
]
