"""Runs saved layers and models under one Keras backend and writes their outputs.

Usage: KERAS_BACKEND=<backend> python cross_backend_worker.py <case_dir>...

Each case directory holds `object.json` (a serialized keras_layerlock layer
or model), `weights.npz` (its `get_weights()`), `inputs.npz` (positional
call arguments) and optionally `method.txt` (a method to run instead of the
call, for models whose call draws random masks); the worker writes `outputs_<backend>.npz` with every
output tensor (a list of features for backbones).
"""

import json
import os
import sys

import keras
import numpy as np

import keras_layerlock  # noqa: F401  (registers the classes)


def main(case_dirs):
    backend = keras.backend.backend()
    for case_dir in case_dirs:
        with open(os.path.join(case_dir, "object.json")) as f:
            layer = keras.saving.deserialize_keras_object(json.load(f))
        with np.load(os.path.join(case_dir, "inputs.npz")) as data:
            inputs = [data[f"arr_{i}"] for i in range(len(data.files))]
        method_file = os.path.join(case_dir, "method.txt")
        call = layer
        if os.path.exists(method_file):  # a model's deterministic method, not its call
            with open(method_file) as f:
                call = getattr(layer, f.read().strip())
        call(*inputs)  # builds every weight
        with np.load(os.path.join(case_dir, "weights.npz")) as data:
            layer.set_weights([data[f"arr_{i}"] for i in range(len(data.files))])
        outputs = call(*inputs)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        np.savez(
            os.path.join(case_dir, f"outputs_{backend}.npz"),
            *[np.asarray(keras.ops.convert_to_numpy(o)) for o in outputs],
        )


if __name__ == "__main__":
    main(sys.argv[1:])
