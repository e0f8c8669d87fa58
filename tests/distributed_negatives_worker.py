"""Prints ViC-MAE's evaluation loss on one batch, with or without data parallelism.

Usage: XLA_FLAGS=--xla_force_host_platform_device_count=2 KERAS_BACKEND=jax \\
    python distributed_negatives_worker.py {single,data_parallel}
"""

import json
import sys

import keras
import numpy as np

import keras_layerlock as kl


def main(mode):
    if mode == "data_parallel":
        keras.distribution.set_distribution(
            keras.distribution.DataParallel(devices=keras.distribution.list_devices()))
    keras.utils.set_random_seed(0)
    model = kl.ViCMAE(kl.VideoViTBackbone.from_preset("video_vit_micro"), decoder_num_layers=1,
                      seed=0, global_loss_weight=1.0)
    model.compile(optimizer="adamw")
    videos = np.random.default_rng(0).random((8, 4, 16, 16, 3), dtype="float32")
    logs = model.evaluate(videos, batch_size=8, verbose=0, return_dict=True)
    print(json.dumps({"devices": len(keras.distribution.list_devices()),
                      "contrastive_loss": float(logs["contrastive_loss"]),
                      "pixel_loss": float(logs["pixel_loss"])}))


if __name__ == "__main__":
    main(sys.argv[1])
