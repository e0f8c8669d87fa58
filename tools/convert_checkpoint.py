"""Converts a publisher's checkpoint into a keras-hub preset directory.

Usage:
    python tools/convert_checkpoint.py --source vjepa2 --checkpoint vitl.pt \
        --preset_dir presets/vjepa2_vit_l [--component target_encoder] [--num_heads 16]
    python tools/convert_checkpoint.py --source vjepa2_transformers \
        --checkpoint facebook/vjepa2-vitl-fpc64-256-folder --preset_dir presets/hf_vitl

Loads strictly (a missing, unexpected or mis-shaped key is an error naming
it), writes the preset, reloads it and checks that the reloaded model gives
the same features on a random clip, and prints the configuration.
`VideoViTBackbone.from_preset(PRESET_DIR)` then loads it on any backend.
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
                        help="vjepa2: target_encoder (default) or encoder")
    parser.add_argument("--num_heads", type=int, default=None)
    parser.add_argument("--num_frames", type=int, default=None, help="nominal clip length")
    parser.add_argument("--image_size", type=int, default=None, help="nominal crop size")
    args = parser.parse_args()
    kwargs = {k: v for k, v in (("component", args.component), ("num_heads", args.num_heads),
                                ("num_frames", args.num_frames),
                                ("image_size", args.image_size)) if v is not None}
    model = kl.converters.convert_checkpoint(args.checkpoint, source=args.source,
                                             preset_dir=args.preset_dir, **kwargs)
    restored = kl.VideoViTBackbone.from_preset(args.preset_dir)
    t, p, _ = model.patch_embedding.patch_size
    clip = np.random.default_rng(0).random((1, 2 * t, 2 * p, 2 * p, model.num_channels),
                                           dtype="float32")
    a = keras.ops.convert_to_numpy(model.forward_intermediates(clip, -1)[0])
    b = keras.ops.convert_to_numpy(restored.forward_intermediates(clip, -1)[0])
    if not np.array_equal(a, b):
        sys.exit(f"The preset at {args.preset_dir} does not reproduce the converted model.")
    print(json.dumps(model.get_config(), indent=2, default=str))
    print(f"wrote {args.preset_dir} ({model.count_params():,} parameters); reloaded and checked")


if __name__ == "__main__":
    main()
