"""Measures what `import keras_layerlock` costs under each Keras backend.

Usage: python tools/measure_import.py [--repeats 3]

Each measurement is a fresh process: wall time of the import and the peak
resident memory after it. `import keras` alone is measured as the baseline,
so the difference is what keras-hub (which imports TensorFlow under every
backend) and this library add. Prints a table and writes
`outputs/import_cost.json`.
"""

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PROBE = """
import importlib, resource, sys, time, json
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
importlib.import_module(sys.argv[1])
seconds = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_rss_mb": after / 1024,
                  "added_rss_mb": (after - before) / 1024}))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for backend in ("jax", "torch", "tensorflow"):
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        for module in ("keras", "keras_layerlock"):
            runs = []
            for _ in range(args.repeats):
                out = subprocess.run(
                    [sys.executable, "-c", PROBE, module], env=env, cwd=ROOT,
                    capture_output=True, text=True, check=True,
                ).stdout.strip().splitlines()[-1]
                runs.append(json.loads(out))
            runs.sort(key=lambda r: r["seconds"])
            median = runs[len(runs) // 2]
            rows.append({"backend": backend, "module": module, **median})
    print("backend      module            import s  peak RSS MB")
    for r in rows:
        print(
            f"{r['backend']:<12} {r['module']:<17} {r['seconds']:8.2f}  "
            f"{r['peak_rss_mb']:11.0f}"
        )
    os.makedirs(os.path.join(ROOT, "outputs"), exist_ok=True)
    with open(os.path.join(ROOT, "outputs", "import_cost.json"), "w") as f:
        json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
