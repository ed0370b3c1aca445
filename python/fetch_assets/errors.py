"""The exceptions: ``Error`` and one subclass per exit code of the command.

``exit_code`` is the code ``fetch-assets`` would have exited with for the
same failure; ``hint`` says what to do next, when there is something to say
(it is also the end of the message).
"""

from __future__ import annotations

from typing import Dict, Optional


class Error(Exception):
    """Any failure of fetch-assets."""

    exit_code: int = 1
    hint: Optional[str]

    def __init__(self, message: str, *, exit_code: Optional[int] = None, hint: Optional[str] = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code
        self.hint = hint

    @property
    def message(self) -> str:
        """The message, as the command prints it."""
        return str(self.args[0]) if self.args else ""


class VerifyError(Error):
    """A folder does not match its manifest (or has none): exit code 1.

    ``files`` maps each file that failed to why (``MISSING``, ``FAILED
    (content differs)``, ...), as ``fetch-assets verify`` prints it.
    """

    exit_code = 1
    files: Dict[str, str]

    def __init__(
        self,
        message: str,
        *,
        exit_code: Optional[int] = None,
        hint: Optional[str] = None,
        files: Optional[Dict[str, str]] = None,
    ) -> None:
        super().__init__(message, exit_code=exit_code, hint=hint)
        self.files = dict(files or {})


class UsageError(Error):
    """Something that cannot work as asked (an argument, the folder): exit code 2."""

    exit_code = 2


class ApiError(Error):
    """The API refused or failed (the key, an unknown task, unreachable): exit code 3."""

    exit_code = 3


class WaitTimeout(Error):
    """The task did not finish within ``timeout``; it goes on: exit code 4."""

    exit_code = 4


class DownloadError(Error):
    """A file could not be downloaded (or written); run again to retry: exit code 5."""

    exit_code = 5


class TaskFailed(Error):
    """The task ended other than in success (failed, banned, ...): exit code 6."""

    exit_code = 6


_BY_EXIT_CODE = {
    2: UsageError,
    3: ApiError,
    4: WaitTimeout,
    5: DownloadError,
    6: TaskFailed,
}


def _from_native(exit_code: int, message: str, hint: Optional[str]) -> Error:
    """The exception for a failure the extension reports (1, a bug, stays ``Error``)."""
    kind = _BY_EXIT_CODE.get(exit_code, Error)
    return kind(message, exit_code=exit_code, hint=hint)
