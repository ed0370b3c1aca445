# The Rust extension (python/src). The package's Python modules wrap it;
# call those, not this.
from pathlib import Path
from typing import Any, Callable, List, Optional, Tuple

__version__: str

class FetchHandle:
    def cancel(self) -> None: ...

class Client:
    def __init__(self, api_key: Optional[str], api_base: Optional[str], api_version: Optional[str]) -> None: ...
    def fetch(
        self,
        task_id: str,
        out_dir: str,
        only: Optional[List[str]],
        force: bool,
        concurrency: Optional[int],
        timeout: Optional[float],
        stall_timeout: Optional[float],
        max_size: Optional[int],
        content_check: bool,
        on_event: Optional[Callable[[str, Optional[str], Any], None]],
    ) -> Tuple[str, Path]: ...
    def start_fetch(
        self,
        task_id: str,
        out_dir: str,
        only: Optional[List[str]],
        force: bool,
        concurrency: Optional[int],
        timeout: Optional[float],
        stall_timeout: Optional[float],
        max_size: Optional[int],
        content_check: bool,
        on_event: Optional[Callable[[str, Optional[str], Any], None]],
        on_done: Callable[[bool, Any], None],
    ) -> FetchHandle: ...
    def fetch_many(
        self,
        task_ids: List[str],
        out_root: str,
        concurrency: Optional[int],
        timeout: Optional[float],
        on_report: Optional[Callable[[str, Optional[str]], None]],
        on_event: Optional[Callable[[str, Optional[str], Any], None]],
    ) -> List[Tuple[str, Optional[str]]]: ...

def verify(out_dir: str) -> Tuple[str, List[Tuple[str, str, bool]]]: ...
