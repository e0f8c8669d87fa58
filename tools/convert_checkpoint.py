"""Converts a publisher's checkpoint into a keras-hub preset directory.

Usage:
    python tools/convert_checkpoint.py --source vjepa2 --checkpoint vitl.pt \
        --preset_dir presets/vjepa2_vit_l [--component target_encoder] [--num_heads 16]
    python tools/convert_checkpoint.py --source vjepa2_transformers \
        --checkpoint facebook/vjepa2-vitl-fpc64-256-folder --preset_dir presets/hf_vitl
    python tools/convert_checkpoint.py --source vjepa2 --checkpoint vitl.pt \
        --component model --preset_dir presets/vjepa2_vit_l_pretraining   # a VJEPA
    python tools/convert_checkpoint.py --source videomae --checkpoint ft_k400.pth \
        --component classifier --preset_dir presets/videomae_k400   # a VideoClassifier
    python tools/convert_checkpoint.py --source 4ds --checkpoint scaling4d_dist_b.npz \
        --preset_dir presets/4ds_b_dist_e

Loads strictly (a missing, unexpected or mis-shaped key is an error naming
it), writes the preset, reloads it and checks that the reloaded model has
the same weights and gives the same features on a random clip, and prints
the configuration. `VideoViTBackbone.from_preset(PRESET_DIR)` (or the
task's class, for `--component model` / `classifier`) then loads it on any
backend.
"""

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_layerlock as kl  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", required=True, choices=sorted(kl.converters.CONVERTERS))
    parser.add_argument("--checkpoint", required=True, help="checkpoint file or model folder")
    parser.add_argument("--preset_dir", required=True)
    parser.add_argument("--component", default=None,
                        help="vjepa / vjepa2: target_encoder (default), encoder, or (vjepa2, "
                             "vjepa2_transformers) model; videomae*: encoder (default) or "
                             "classifier")
    parser.add_argument("--num_heads", type=int, default=None)
    parser.add_argument("--predictor_num_heads", type=int, default=None,
                        help="--component model: heads of the predictor")
    parser.add_argument("--num_frames", type=int, default=None, help="nominal clip length")
    parser.add_argument("--image_size", type=int, default=None, help="nominal crop size")
    args = parser.parse_args()
    kwargs = {k: v for k, v in (("component", args.component), ("num_heads", args.num_heads),
                                ("predictor_num_heads", args.predictor_num_heads),
                                ("num_frames", args.num_frames),
                                ("image_size", args.image_size)) if v is not None}
    model = kl.converters.convert_checkpoint(args.checkpoint, source=args.source,
                                             preset_dir=args.preset_dir, **kwargs)
    restored = type(model).from_preset(args.preset_dir)
    same_weights = all(np.array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
                       for a, b in zip(model.weights, restored.weights))
    backbone = getattr(model, "backbone", model)
    restored_backbone = getattr(restored, "backbone", restored)
    grid = backbone.nominal_grid_shape
    clip_shape = (1,) + tuple(g * s for g, s in zip(grid, backbone.patch_size)) + (
        backbone.num_channels,)
    clip = np.random.default_rng(0).random(clip_shape, dtype="float32")
    a = keras.ops.convert_to_numpy(backbone.forward_intermediates(clip, -1)[0])
    b = keras.ops.convert_to_numpy(restored_backbone.forward_intermediates(clip, -1)[0])
    if not (same_weights and len(model.weights) == len(restored.weights)
            and np.array_equal(a, b)):
        sys.exit(f"The preset at {args.preset_dir} does not reproduce the converted model.")
    print(json.dumps(model.get_config(), indent=2, default=str))
    print(f"wrote {args.preset_dir} ({model.count_params():,} parameters); reloaded and checked")


if __name__ == "__main__":
    main()
