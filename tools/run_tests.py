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

A run that dies of a signal (TensorFlow's CPU runtime has segfaulted once in
CI, in a test that passes in hundreds of runs alone and in sequence) is
resumed once, from the start of the test file it died in, and the table says
so (`crashed in ... , resumed`): the files it had finished passed already,
and every file from the crashed one on runs again in full. A second crash,
or any failing test, fails the run.
"""

import argparse
import glob
import json
import os
import re
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


def crashed_file(log_text):
    """The test file a run was in when it died: the last one pytest's
    progress lines name."""
    names = re.findall(r"^(tests/test_\w+\.py) ", log_text, flags=re.MULTILINE)
    return names[-1] if names else None


def files_from(test_file):
    """`test_file` and every test file pytest collects after it."""
    files = sorted(os.path.relpath(path, ROOT)
                   for path in glob.glob(os.path.join(ROOT, "tests", "test_*.py")))
    return [f for f in files if f >= test_file]


def start_run(backend, targets, args, log_path):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    log = open(log_path, "w")
    print(f"started KERAS_BACKEND={backend} (output: {log_path})", flush=True)
    process = subprocess.Popen([sys.executable, "-m", "pytest"] + targets + args,
                               cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    return process, log


def run_all(waiting, running, results, jobs, pytest_args):
    """Starts the waiting backends' runs, at most `jobs` at a time, collects
    each exit code as it ends, and resumes once a run killed by a signal."""
    first_backend = waiting[0] if waiting else None
    crashes = {}
    while waiting or running:
        while waiting and len(running) < jobs:
            backend, targets = waiting.pop(0)
            suffix = ".resumed" if backend in crashes else ""
            log_path = os.path.join(LOG_DIR, f"{backend}{suffix}.log")
            args = backend_pytest_args(backend, first_backend, pytest_args)
            process, log = start_run(backend, targets, args, log_path)
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
                text = f.read()
            sys.stdout.write(text)
            sys.stdout.flush()
            crashed_in = crashed_file(text) if code < 0 else None
            if crashed_in and backend not in crashes:
                crashes[backend] = {"signal": -code, "crashed_in": crashed_in,
                                    "seconds_before_crash": seconds}
                print(f"\n===== KERAS_BACKEND={backend} died of signal {-code} in {crashed_in}; "
                      "resuming once from that file =====", flush=True)
                waiting.insert(0, (backend, files_from(crashed_in)))
                continue
            results.append({"backend": backend, "returncode": code, "seconds": seconds,
                            **({"crash": crashes[backend]} if backend in crashes else {})})


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
    waiting, running, results = [(b, ["tests"]) for b in args.backends], {}, []
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
        crash = r.get("crash")
        note = (f"  (died of signal {crash['signal']} in {crash['crashed_in']} after "
                f"{crash['seconds_before_crash']:.0f} s; resumed from that file)" if crash else "")
        print(f"{r['backend']:<12} {status:<7} {r['seconds']:7.1f}{note}")
    with open(os.path.join(ROOT, "outputs", "test_runs.json"), "w") as f:
        json.dump({"jobs": jobs, "runs": results}, f, indent=2)
    sys.exit(0 if all(r["returncode"] == 0 for r in results) else 1)


if __name__ == "__main__":
    main()
