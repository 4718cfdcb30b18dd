"""Grade one batch on this machine's process pool and on a Dask cluster of N worker processes; print both times.

    .venv/bin/python benchmarks/cluster_speed.py [--module 01-asyncio] [--count 12] [--workers 2]

The cluster is started here, on 127.0.0.1 (`dask scheduler` and N `dask worker --nthreads 1`),
the way docs/instructor.md starts one; the local run uses as many processes as there are workers.
The batch is grading_speed.py's (a third correct, a third with one answer cleared, a third
untouched), graded into two fresh copies of the course. Both runs find the assignment already
registered (that step is not timed). Throughput is also given per worker-core and hour, the
figure the capacity model in docs/instructor.md is made of. Figures, not a test.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from grading_speed import fresh_course, register

from autograder.grade import grade
from autograder.notebooks import find_course_root


def start_cluster(workers: int, log: Path) -> tuple[str, list[subprocess.Popen]]:
    """A scheduler and ``workers`` single-thread workers on 127.0.0.1; its address and the processes."""
    from distributed import Client

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dask = str(Path(sys.executable).with_name("dask"))
    address = f"tcp://127.0.0.1:{port}"
    commands = [[dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"]]
    commands += [[dask, "worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard"]] * workers
    processes = []
    with open(log, "wb") as out:
        for command in commands:
            processes.append(
                subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            )
    with Client(address, timeout=60, set_as_default=False) as client:
        client.wait_for_workers(workers, timeout=120)
    return address, processes


def stop_cluster(processes: list[subprocess.Popen]) -> None:
    for process in reversed(processes):
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def timed(course: Path, module: str, **how) -> float:
    register(course, module)
    started = time.perf_counter()
    report = grade(course, module, feedback=True, progress=False, **how)
    seconds = time.perf_counter() - started
    failed = [r.student for r in report.results if not r.graded]
    if failed:
        print(f"  not graded: {', '.join(failed)}", file=sys.stderr)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", default="01-asyncio")
    parser.add_argument("--count", type=int, default=12, help="submissions in the batch")
    parser.add_argument("--workers", type=int, default=2, help="Dask worker processes (one thread each)")
    args = parser.parse_args()
    root = find_course_root(Path.cwd())
    plan = {args.module: args.count}
    with tempfile.TemporaryDirectory(prefix="proximal-bench-") as scratch:
        where = Path(scratch)
        (where / "local").mkdir()
        (where / "cluster").mkdir()
        local_course = fresh_course(root, where / "local", [args.module], plan)
        cluster_course = fresh_course(root, where / "cluster", [args.module], plan)
        local = timed(local_course, args.module, jobs=args.workers, scheduler="")
        address, processes = start_cluster(args.workers, where / "cluster.log")
        try:
            remote = timed(cluster_course, args.module, scheduler=address)
        finally:
            stop_cluster(processes)
    print(f"{'module':12} {'subs':>5} {'workers':>8} {'local s':>8} {'cluster s':>10} {'per core-hour':>14}")
    per_core_hour = args.count / remote / args.workers * 3600
    print(
        f"{args.module:12} {args.count:5d} {args.workers:8d} {local:8.1f} {remote:10.1f} {per_core_hour:14.0f}"
    )
    print(f"per core-hour: submissions per worker-core and hour on the cluster ({os.cpu_count()} cores here)")


if __name__ == "__main__":
    main()
