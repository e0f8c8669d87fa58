"""Runs the test suite once per Keras backend and fails if any run fails.

Usage:
    python tools/run_tests.py [--backends jax torch tensorflow] [pytest args]

Each backend runs in its own process (`KERAS_BACKEND` is read at import).
A summary table is printed and written to `outputs/test_runs.json`.
"""

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--backends", nargs="+", default=["jax", "torch", "tensorflow"]
    )
    args, pytest_args = parser.parse_known_args()
    results = []
    for backend in args.backends:
        print(f"\n===== KERAS_BACKEND={backend} =====", flush=True)
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        start = time.time()
        code = subprocess.call(
            [sys.executable, "-m", "pytest", "tests"] + pytest_args,
            cwd=ROOT,
            env=env,
        )
        results.append(
            {"backend": backend, "returncode": code, "seconds": time.time() - start}
        )
    print("\nbackend      result  seconds")
    for r in results:
        status = "passed" if r["returncode"] == 0 else "FAILED"
        print(f"{r['backend']:<12} {status:<7} {r['seconds']:7.1f}")
    os.makedirs(os.path.join(ROOT, "outputs"), exist_ok=True)
    with open(os.path.join(ROOT, "outputs", "test_runs.json"), "w") as f:
        json.dump(results, f, indent=2)
    sys.exit(0 if all(r["returncode"] == 0 for r in results) else 1)


if __name__ == "__main__":
    main()
