"""Wall time of the README's main job (``pruningbench bench quickstart``) from an empty results directory.

Runs it twice: cold (base model trained, every run executed) and warm (everything reused from the store), and
prints both times. The goal for the cold run (all 16 methods at 2x/4x/8x) is under 10 minutes on 2 CPU cores.

    python benchmarks/quickstart_time.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed_bench(results_dir: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "from pruningbench.cli import app; app()", "bench", "quickstart", "--results-dir", str(results_dir)],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def main() -> None:
    results_dir = Path(tempfile.mkdtemp(prefix="pruningbench-quickstart-"))
    try:
        cold, warm = timed_bench(results_dir), timed_bench(results_dir)
    finally:
        shutil.rmtree(results_dir)
    print(f"quickstart suite: cold {cold:.1f} s, warm (all reused) {warm:.1f} s")


if __name__ == "__main__":
    main()
