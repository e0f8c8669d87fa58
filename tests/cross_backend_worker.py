"""Runs saved backbones under one Keras backend and writes their outputs.

Usage: KERAS_BACKEND=<backend> python cross_backend_worker.py <case_dir>...

Each case directory holds `config.json` (backbone config),
`model.weights.h5` and `inputs.npy`; the worker writes
`outputs_<backend>.npz` with every depth's features.
"""

import json
import os
import sys

import keras
import numpy as np

import keras_layerlock as kl


def main(case_dirs):
    backend = keras.backend.backend()
    for case_dir in case_dirs:
        with open(os.path.join(case_dir, "config.json")) as f:
            config = json.load(f)
        backbone = kl.VideoViTBackbone.from_config(config)
        backbone.load_weights(os.path.join(case_dir, "model.weights.h5"))
        inputs = np.load(os.path.join(case_dir, "inputs.npy"))
        features = backbone(inputs)
        np.savez(
            os.path.join(case_dir, f"outputs_{backend}.npz"),
            *[np.asarray(keras.ops.convert_to_numpy(f)) for f in features],
        )


if __name__ == "__main__":
    main(sys.argv[1:])
