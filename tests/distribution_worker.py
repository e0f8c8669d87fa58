"""Trains a tiny LayerLockMAE, VJEPA or ViCMAE through a freezing event (or a
tiny MSBReg on a ResNet, which has no freezing), on one device or
distributed with `keras.distribution`, and writes what the tests compare.

Usage: XLA_FLAGS=--xla_force_host_platform_device_count=8 KERAS_BACKEND=jax \\
    python distribution_worker.py {mae,vjepa,vic_mae,msbreg} \\
        {single,data_parallel,model_parallel} OUT [--remat] [--load WEIGHTS]

Writes OUT.json (per-step losses, LayerLock events, whether the frozen
weights stayed bit-identical, the layout of some variables, the masks one
batch of identical clips drew), OUT.npz (every weight after training, by
path, and the encoder's `features` on a fixed clip) and OUT.weights.h5 (`save_weights`). With `--load`, it builds the
model, loads WEIGHTS instead of training, and writes the backbone's
features on a fixed clip to OUT.npz.
"""

import argparse
import json

import keras
import numpy as np

import keras_layerlock as kl

STEPS, BATCH = 6, 8
MESH = (4, 2)  # (batch, model)
LAYOUT_PATHS = ("transformer_layer_1/qkv/kernel", "transformer_layer_1/mlp_output/kernel",
                "transformer_layer_1/attention_norm/gamma", "patch_embedding/kernel")


def set_distribution(mode, model_cls):
    devices = keras.distribution.list_devices()
    if mode == "data_parallel":
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    elif mode == "model_parallel":
        mesh = keras.distribution.DeviceMesh(MESH, ("batch", "model"), devices)
        keras.distribution.set_distribution(keras.distribution.ModelParallel(
            layout_map=model_cls.get_layout_map(mesh), batch_dim_name="batch"))


def build(kind, remat):
    """4 blocks 32 wide, 4 x 32 x 32 clips (a 2 x 4 x 4 token grid); for
    MSBReg a two-stage ResNet 64 and 32 filters wide (keras-hub wants 64 first) on
    32 x 32 images."""
    keras.utils.set_random_seed(0)
    if kind == "msbreg":
        import keras_hub

        resnet = keras_hub.models.ResNetBackbone(
            input_conv_filters=[64], input_conv_kernel_sizes=[3], stackwise_num_filters=[64, 32],
            stackwise_num_blocks=[1, 1], stackwise_num_strides=[1, 2], block_type="basic_block",
            use_pre_activation=False, image_shape=(32, 32, 3))
        return kl.MSBReg(resnet, num_views=3, projector_hidden_dim=32, projection_dim=16,
                         brownian_weight=0.5, singular_value_weight=0.004, seed=1)
    backbone = kl.VideoViTBackbone(
        hidden_dim=32, num_layers=4, num_heads=2, intermediate_dim=64, patch_size=(2, 8, 8),
        num_frames=4, image_size=32, remat=remat)
    if kind == "mae":
        return kl.LayerLockMAE(backbone, decoder="mae", decoder_num_layers=1,
                               decoder_hidden_dim=16, mask_ratio=0.75, seed=1)
    if kind == "vic_mae":
        return kl.ViCMAE(backbone, decoder="mae", decoder_num_layers=1, decoder_hidden_dim=16,
                         global_loss_weight=1.0, seed=1)
    return kl.VJEPA(backbone, predictor_num_layers=1, predictor_hidden_dim=16, seed=1)


def clips(n, seed, kind="mae"):
    shape = (32, 32, 3) if kind == "msbreg" else (4, 32, 32, 3)
    return np.random.default_rng(seed).random((n, *shape), dtype="float32")


class FrozenWeightCheck(keras.callbacks.Callback):
    """Snapshots the first block when it is frozen; compares at the end."""

    def __init__(self, freeze_step):
        super().__init__()
        self.freeze_step, self.snapshot = freeze_step, None

    def on_train_batch_begin(self, batch, logs=None):
        if batch == self.freeze_step:
            self.snapshot = self._first_block()

    def _first_block(self):
        return {v.path: keras.ops.convert_to_numpy(v).copy()
                for v in self.model.backbone.transformer_layers[0].weights}

    def identical(self):
        end = self._first_block()
        return all(np.array_equal(end[k], self.snapshot[k]) for k in end)


def features(model, kind):
    """The encoder's output on a fixed clip (the ResNet's feature map)."""
    outputs = model.backbone(clips(2, 9, kind))
    return keras.ops.convert_to_numpy(outputs if kind == "msbreg" else outputs[-1])


def layouts(model):
    found = {}
    for variable in model.backbone.weights:
        if variable.path in LAYOUT_PATHS:
            sharding = getattr(variable.value, "sharding", None)
            found[variable.path] = str(getattr(sharding, "spec", None))
    return found


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["mae", "vjepa", "vic_mae", "msbreg"])
    parser.add_argument("mode", choices=["single", "data_parallel", "model_parallel"])
    parser.add_argument("out")
    parser.add_argument("--remat", action="store_true")
    parser.add_argument("--load", default=None)
    args = parser.parse_args()
    model_cls = {"mae": kl.LayerLockMAE, "vjepa": kl.VJEPA, "vic_mae": kl.ViCMAE,
                 "msbreg": kl.MSBReg}[args.kind]
    set_distribution(args.mode, model_cls)
    model = build(args.kind, args.remat)
    # SGD with momentum: a weight's difference between runs stays in
    # proportion to its gradient's (Adam turns round-off in the near-zero
    # gradient of a bias before a BatchNorm into a full step).
    model.compile(keras.optimizers.SGD(0.01, momentum=0.9))
    if args.load:
        model.load_weights(args.load)
        np.savez(args.out + ".npz", features=features(model, args.kind))
        return
    history = kl.callbacks.StepLossHistory()
    callbacks, events, frozen_identical = [history], [], None
    if args.kind != "msbreg":
        schedule = kl.LayerLockSchedule(num_steps_before_first_freeze=3,
                                        num_steps_between_freezes=10, num_layers_per_freeze=1,
                                        target_layers=[1])
        layerlock = kl.LayerLockCallback(schedule, rewarmup_steps=0, verbose=0)
        frozen = FrozenWeightCheck(3)
        callbacks += [layerlock, frozen]
    # Three steps for the ResNet: later, a max-pool or ReLU decision that
    # round-off flips sends the two runs apart (measured: losses 2e-4 apart
    # by step 5, both ways of summing being equally right).
    steps = 3 if args.kind == "msbreg" else STEPS
    model.fit(clips(steps * BATCH, 0, args.kind), batch_size=BATCH, epochs=1, shuffle=False,
              callbacks=callbacks, verbose=0)
    if args.kind != "msbreg":
        events = [{k: int(v) for k, v in e.items() if k in ("step", "num_frozen_layers")}
                  for e in layerlock.events]
        frozen_identical = frozen.identical()
    masks = None
    if args.kind == "mae":
        same = np.repeat(clips(1, 5), BATCH, axis=0)
        outputs = model.predict(same, batch_size=BATCH, verbose=0)
        masks = np.asarray(outputs["visible_ids"]).tolist()
    # The EMA teacher's variables share their online twins' paths; MSBReg's
    # include the BatchNorm moving statistics (global-batch statistics).
    weights = {f"{i:03d}:{v.path}": keras.ops.convert_to_numpy(v)
               for i, v in enumerate(model.weights)}
    np.savez(args.out + ".npz", features=features(model, args.kind), **weights)
    model.save_weights(args.out + ".weights.h5")
    with open(args.out + ".json", "w") as f:
        json.dump({"devices": len(keras.distribution.list_devices()),
                   "losses": [float(x) for x in history.losses],
                   "events": events, "frozen_identical": frozen_identical,
                   "num_trainable": len(model.trainable_variables),
                   "layouts": layouts(model), "masks": masks}, f)


if __name__ == "__main__":
    main()
