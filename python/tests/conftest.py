"""The fake Tripo service of the Rust tests (crate fake-tripo), started per
test as `fake-tripo serve SPEC`: it prints where it listens, answers `stats`
with its counters, and stops when its stdin closes."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import pytest

import fetch_assets as fa

REPO = Path(__file__).resolve().parents[2]

# The fake is on loopback: a proxy from the environment must not carry the
# engine's requests elsewhere (the client reads these when it is built).
for variable in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
    os.environ.pop(variable, None)
for variable in ("TRIPO_API_KEY", "TRIPO_API_BASE"):
    os.environ.pop(variable, None)


class Fake:
    """One running fake."""

    def __init__(self, binary: Path, spec: Dict[str, Any]) -> None:
        self.process = subprocess.Popen(
            [str(binary), "serve", json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, f"fake-tripo did not start (exit code {self.process.wait()})"
        where = json.loads(line)
        self.api_key: str = where["api_key"]
        self.task_id: str = where["task_id"]
        self.v2_base: str = where["v2_base"]
        self.v3_base: str = where["v3_base"]

    def ask(self, command: str) -> Any:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def stats(self) -> Dict[str, Any]:
        return self.ask("stats")  # type: ignore[no-any-return]

    def file(self, name: str) -> Dict[str, Any]:
        """`{"len", "sha256"}` of what the fake serves for `name`."""
        return self.ask(f"file {name}")  # type: ignore[no-any-return]

    def cdn_requests(self, name: str) -> List[Dict[str, Any]]:
        return [r for r in self.stats()["cdn_requests"] if r["file"] == name]

    def bytes_sent_for(self, name: str) -> int:
        return sum(r["body_bytes_sent"] for r in self.cdn_requests(name))

    def client(self, version: str = "v3", **kwargs: Any) -> fa.Client:
        base = self.v3_base if version == "v3" else self.v2_base
        return fa.Client(api_key=kwargs.pop("api_key", self.api_key), api_base=base, **kwargs)

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        assert self.process.stdout is not None
        self.process.stdout.close()


@pytest.fixture(scope="session")
def fake_binary() -> Path:
    """`FAKE_TRIPO` if set, else the workspace's debug build (built now if needed)."""
    explicit = os.environ.get("FAKE_TRIPO")
    if explicit:
        return Path(explicit)
    subprocess.run(["cargo", "build", "--quiet", "-p", "fake-tripo"], cwd=REPO, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "debug" / "fake-tripo"


@pytest.fixture
def fake(fake_binary: Path) -> Iterator[Callable[[Dict[str, Any]], Fake]]:
    """Starts fakes for a test (`fake({"fixture": "v3_bare_task"})`); stops them after it."""
    started: List[Fake] = []

    def start(spec: Dict[str, Any]) -> Fake:
        one = Fake(fake_binary, spec)
        started.append(one)
        return one

    yield start
    for one in started:
        one.close()
