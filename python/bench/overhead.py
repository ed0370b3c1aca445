"""Two figures of the Python package (issue 21):

1. The Python call's overhead against the binary, on the fan-out benchmark's
   scenario (benches/fanout.rs: the v2 task's ten outputs, 76 MiB in its
   seven large files, each connection served at 8 MiB/s): seconds from the moment the fake served the task's success
   to the moment the files are committed (the binary: its process exited;
   Python: `Client.fetch` returned), median of RUNS runs each. The target is
   a ratio of at most 1.05.
2. `import fetch_assets`: seconds, in a fresh interpreter, median of 10.

From the repository's root, with the package installed (a release build,
as `pip install ./python` makes) and the binary built (`cargo build --release`):

    python python/bench/overhead.py [--runs 5] [--binary target/release/fetch-assets]

The fake is `target/debug/fake-tripo` (`cargo build -p fake-tripo`), or
FAKE_TRIPO.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, List, Tuple

REPO = Path(__file__).resolve().parents[2]
MIB = 1 << 20
SCENARIO = {
    "fixture": "v2_all_outputs",
    "throttle": 8 * MIB,
    "files": {
        "model.glb": 24 * MIB,
        "base_model.glb": 16 * MIB,
        "pbr_model.glb": 12 * MIB,
        "front.png": 6 * MIB,
        "left.png": 6 * MIB,
        "back.png": 6 * MIB,
        "right.png": 6 * MIB,
    },
}


# The fixture's outputs: the seven above, two images and a thumbnail.
OUTPUTS = 10


def one_run(fake: Path, fetch: Callable[[dict, Path], None]) -> float:
    """Seconds from the success answer to the end of `fetch`."""
    with tempfile.TemporaryDirectory(prefix="fetch-assets-bench-") as scratch:
        process = subprocess.Popen(
            [str(fake), "serve", json.dumps(SCENARIO)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert process.stdin is not None and process.stdout is not None
        where = json.loads(process.stdout.readline())
        started = time.monotonic()  # the fake's clock starts a moment before it says where it is
        fetch(where, Path(scratch) / "out")
        ended = time.monotonic()
        process.stdin.write("stats\n")
        process.stdin.flush()
        stats = json.loads(process.stdout.readline())
        process.stdin.close()
        process.wait()
        files = sorted(p.name for p in (Path(scratch) / "out").iterdir())
        assert "manifest.json" in files and len(files) == OUTPUTS + 2, files
        return ended - started - stats["first_success_served_at"]


def with_binary(binary: Path) -> Callable[[dict, Path], None]:
    def fetch(where: dict, out: Path) -> None:
        env = dict(os.environ, TRIPO_API_KEY=where["api_key"], TRIPO_API_BASE=where["v2_base"], NO_COLOR="1")
        subprocess.run([str(binary), "--quiet", where["task_id"], str(out)], env=env, check=True)

    return fetch


def with_python(where: dict, out: Path) -> None:
    import fetch_assets as fa

    fa.Client(api_key=where["api_key"], api_base=where["v2_base"]).fetch(where["task_id"], out)


def import_time() -> float:
    code = "import time; t = time.perf_counter(); import fetch_assets; print(time.perf_counter() - t)"
    times = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout) for _ in range(10)]
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--binary", type=Path, default=REPO / "target" / "release" / "fetch-assets")
    parser.add_argument("--fake", type=Path, default=Path(os.environ.get("FAKE_TRIPO", REPO / "target" / "debug" / "fake-tripo")))
    args = parser.parse_args()
    for variable in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
        os.environ.pop(variable, None)

    # Alternate the two so a change in the machine's load meets both alike.
    binary: List[float] = []
    python: List[float] = []
    for _ in range(args.runs):
        binary.append(one_run(args.fake, with_binary(args.binary)))
        python.append(one_run(args.fake, with_python))
    rows: List[Tuple[str, List[float]]] = [("binary", binary), ("Python fetch()", python)]
    total = sum(SCENARIO["files"].values())  # and three small images
    print(f"fan-out: {OUTPUTS} outputs, {total / MIB:.0f} MiB, each connection at 8 MiB/s; {args.runs} runs each")
    print("time: from the success answer to the files committed (median)")
    for name, times in rows:
        print(f"  {name:<16} {statistics.median(times):7.3f} s   (runs: {', '.join(f'{t:.3f}' for t in times)})")
    print(f"  ratio Python / binary: {statistics.median(python) / statistics.median(binary):.3f} (target <= 1.05)")
    print(f"import fetch_assets: {import_time() * 1000:.1f} ms (median of 10 fresh interpreters)")


if __name__ == "__main__":
    main()
