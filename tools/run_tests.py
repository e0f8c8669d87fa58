"""Runs the test suite once per Keras backend and fails if any run fails.

Usage:
    python tools/run_tests.py [--backends torch jax tensorflow] [--jobs N] [pytest args]

Each backend runs in its own process (`KERAS_BACKEND` is read at import).
The backends run side by side (`--jobs`, all of them by default): most
tests are small enough that one process leaves a core idle, so on the
2-core CI machine this is what keeps the three runs within the CI budget.
Each run's output goes to `outputs/test_logs/<backend>.log` and is printed
when that run ends; a summary table is printed and written to
`outputs/test_runs.json`.

`tests/test_cross_backend.py` compares the running backend with the other
two in subprocesses, so one run of it covers every pair: it runs with the
first backend only (unless the pytest arguments carry their own `-m`).
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOG_DIR = os.path.join(ROOT, "outputs", "test_logs")


def backend_pytest_args(backend, first_backend, pytest_args):
    """`pytest_args`, plus the deselection of the cross-backend test for
    every backend but the first."""
    if backend == first_backend or "-m" in pytest_args:
        return list(pytest_args)
    return list(pytest_args) + ["-m", "not cross_backend"]


def run_all(waiting, running, results, jobs, pytest_args):
    """Starts the waiting backends' runs, at most `jobs` at a time, and
    collects each exit code as it ends."""
    first_backend = waiting[0] if waiting else None
    while waiting or running:
        while waiting and len(running) < jobs:
            backend = waiting.pop(0)
            env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
            log_path = os.path.join(LOG_DIR, f"{backend}.log")
            log = open(log_path, "w")
            print(f"started KERAS_BACKEND={backend} (output: {log_path})", flush=True)
            process = subprocess.Popen(
                [sys.executable, "-m", "pytest", "tests"]
                + backend_pytest_args(backend, first_backend, pytest_args),
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )
            running[backend] = (process, log, log_path, time.time())
        time.sleep(1)
        for backend, (process, log, log_path, start) in list(running.items()):
            code = process.poll()
            if code is None:
                continue
            log.close()
            del running[backend]
            seconds = time.time() - start
            print(f"\n===== KERAS_BACKEND={backend}: exit code {code}, {seconds:.0f} s =====",
                  flush=True)
            with open(log_path) as f:
                sys.stdout.write(f.read())
            sys.stdout.flush()
            results.append({"backend": backend, "returncode": code, "seconds": seconds})


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--backends", nargs="+", default=["torch", "jax", "tensorflow"],
        help="torch first: its run is the shortest, so it takes the cross-backend test",
    )
    parser.add_argument(
        "--jobs", type=int, default=None,
        help="backend runs at a time (default: all of them)",
    )
    args, pytest_args = parser.parse_known_args()
    jobs = len(args.backends) if args.jobs is None else args.jobs
    if jobs < 1:
        parser.error(f"--jobs must be >= 1; received {jobs}.")
    os.makedirs(LOG_DIR, exist_ok=True)
    waiting, running, results = list(args.backends), {}, []
    # A runner stopped with SIGTERM (a CI timeout) cleans up like Ctrl-C.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        run_all(waiting, running, results, jobs, pytest_args)
    finally:
        # An interrupted runner takes its pytest processes with it.
        for process, log, _, _ in running.values():
            process.terminate()
            log.close()
    results.sort(key=lambda r: args.backends.index(r["backend"]))
    print("\nbackend      result  seconds")
    for r in results:
        status = "passed" if r["returncode"] == 0 else "FAILED"
        print(f"{r['backend']:<12} {status:<7} {r['seconds']:7.1f}")
    with open(os.path.join(ROOT, "outputs", "test_runs.json"), "w") as f:
        json.dump({"jobs": jobs, "runs": results}, f, indent=2)
    sys.exit(0 if all(r["returncode"] == 0 for r in results) else 1)


if __name__ == "__main__":
    main()
