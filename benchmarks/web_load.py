"""50 concurrent leaderboard requests to a real ``pruningbench serve`` on loopback: errors, median and p95 time.

The store holds a quick-start-sized result set (17 methods x 3 speed-ups, 2 seeds: 102 runs). The page is requested
once first (figures are drawn once, then cached), then 50 clients ask at once, for the HTML page and for the JSON.

    python benchmarks/web_load.py [--clients 50]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pruningbench.store import ResultStore  # noqa: E402
from tests.helpers import make_record  # noqa: E402

METHODS = [(name, None) for name in ("Random", "MagnitudeL1", "MagnitudeL2", "LAMP", "FPGM", "BNScale", "Taylor",
                                     "OBD-Hessian", "OBD-C", "HRank", "ThiNet", "CP")] + [
    ("MagnitudeL2", "GroupLASSO"), ("BNScale", "BNScale"), ("MagnitudeL2", "GroupNorm"), ("BNScale", "GroupLASSO"),
    ("MagnitudeL2", "GrowingReg")]


def _fill(results: Path) -> int:
    store = ResultStore.in_dir(results)
    count = 0
    for index, (importance, regularizer) in enumerate(METHODS):
        for speedup in (2.0, 4.0, 8.0):
            for seed in (0, 1):
                pruned = 80.0 - 2 * speedup - index * 0.3 + seed * 0.2
                store.add(make_record(importance, pruned, regularizer=regularizer, target_speedup=speedup, seed=seed,
                                      run_id=f"r{index}-{speedup:g}-{seed}", run_key=f"k{index}-{speedup:g}-{seed}",
                                      channels_before={f"l{i}": 64 for i in range(12)},
                                      channels_after={f"l{i}": int(64 / speedup) + i for i in range(12)}))
                count += 1
    return count


def _burst(url: str, clients: int) -> tuple[int, list[float]]:
    def one(_: int) -> tuple[bool, float]:
        started = time.perf_counter()
        try:
            ok = httpx.get(url, headers={"accept": "text/html"}, timeout=300).status_code == 200
        except httpx.HTTPError:
            ok = False
        return ok, time.perf_counter() - started

    with ThreadPoolExecutor(max_workers=clients) as pool:
        results = list(pool.map(one, range(clients)))
    return sum(not ok for ok, _ in results), [seconds for _, seconds in results]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        results = Path(folder) / "results"
        runs = _fill(results)
        with socket_port() as port:
            server = subprocess.Popen(
                [sys.executable, "-m", "pruningbench", "serve", "--port", str(port), "--results-dir", str(results)],
                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ},
            )
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(240):
                try:
                    httpx.get(f"{base}/api/boards", timeout=5)
                    break
                except httpx.HTTPError:
                    time.sleep(0.5)
            started = time.perf_counter()
            page = httpx.get(f"{base}/boards", timeout=600).text
            first = time.perf_counter() - started
            print(f"{runs} runs, {len(re.findall('board-title', page))} boards; first /boards (draws the figures) "
                  f"{first:.2f} s")
            for path in ("/boards", "/api/boards"):
                errors, times = _burst(base + path, args.clients)
                p95 = statistics.quantiles(times, n=20)[-1]
                print(f"{path:<12} {args.clients} concurrent: {errors} errors, median {statistics.median(times):.3f} s, "
                      f"p95 {p95:.3f} s")
        finally:
            server.kill()
            server.wait()


class socket_port:
    """A free loopback port."""

    def __enter__(self) -> int:
        import socket

        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        return self._socket.getsockname()[1]

    def __exit__(self, *_: object) -> None:
        self._socket.close()


if __name__ == "__main__":
    main()
