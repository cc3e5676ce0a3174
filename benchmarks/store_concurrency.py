"""Many processes storing run records into one store at once: errors, lost and duplicated records, records/second.

8 processes store 60 records each (480) into SQLite (WAL, busy timeout, BEGIN IMMEDIATE, upsert on run_key) and into
PostgreSQL: a throwaway server on loopback (as the tests start it) unless ``--postgres-url`` names one. Half of each
process's records use run keys that every process also stores (the same run finished twice), so the expected store
holds 30 shared + 8 x 30 own = 270 distinct runs. Goal: 0 errors / 0 lost / 0 duplicated.

    python benchmarks/store_concurrency.py [--processes 8] [--records 60] [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pruningbench.store import ResultStore  # noqa: E402
from pruningbench.store.schema import RunRow  # noqa: E402
from tests.helpers import make_record  # noqa: E402


def _key(index: int, number: int) -> str:
    return f"shared-{number}" if number % 2 == 0 else f"own-{index}-{number}"


def _writer(url: str, index: int, count: int, start: multiprocessing.Event) -> int:
    """Store ``count`` records; the number of errors."""
    store = ResultStore(url)
    start.wait()
    errors = 0
    for number in range(count):
        try:
            store.add(make_record(run_id=f"{index}-{number}", run_key=_key(index, number), pruned=float(number)))
        except Exception as error:  # counted, not raised: the figure is how many
            errors += 1
            print(f"process {index}: {type(error).__name__}: {error}", file=sys.stderr)
    return errors


def measure(url: str, processes: int, records: int) -> dict[str, float]:
    """Run the writers against ``url`` (an empty store) and count what came out."""
    ResultStore(url)
    context = multiprocessing.get_context("fork")
    with context.Manager() as manager:
        start = manager.Event()
        with context.Pool(processes) as pool:
            pending = [pool.apply_async(_writer, (url, i, records, start)) for i in range(processes)]
            time.sleep(2)  # every process has opened the store
            started = time.perf_counter()
            start.set()
            errors = sum(job.get(timeout=600) for job in pending)
            seconds = time.perf_counter() - started
    expected = {_key(i, n) for i in range(processes) for n in range(records)}
    store = ResultStore(url)
    with store.database.reading() as session:
        rows = session.scalar(select(func.count()).select_from(RunRow))
        keys = set(session.scalars(select(RunRow.run_key)))
    return {
        "errors": errors,
        "lost": len(expected - keys),
        "duplicated": rows - len(keys),
        "stores": processes * records,
        "seconds": seconds,
        "stores_per_s": processes * records / seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--records", type=int, default=60)
    parser.add_argument("--postgres-url")
    args = parser.parse_args()
    server = None
    with tempfile.TemporaryDirectory() as folder:
        targets = {"sqlite": f"sqlite:///{Path(folder) / 'pruningbench.db'}"}
        if args.postgres_url:
            targets["postgresql"] = args.postgres_url
        else:
            from tests.postgres import PostgresServer

            server = PostgresServer()
            reason = server.start()
            if reason:
                print(f"postgresql: skipped ({reason})")
            else:
                targets["postgresql"] = server.new_database()
        try:
            print(f"{args.processes} processes x {args.records} records")
            for name, url in targets.items():
                result = measure(url, args.processes, args.records)
                counts = f"errors {result['errors']} / lost {result['lost']} / duplicated {result['duplicated']}"
                print(
                    f"{name:<10} {counts}"
                    f"   {result['stores']} stores in {result['seconds']:.2f} s = {result['stores_per_s']:.0f}/s"
                )
        finally:
            if server is not None:
                server.stop()


if __name__ == "__main__":
    main()
