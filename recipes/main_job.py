"""The main job.

Until the pretraining and evaluation pieces land, this is a short backbone
demo that exercises what exists end to end on the current Keras backend:

1. the parameter counts of the paper configurations next to the papers';
2. a tiny `VideoViTBackbone` run over a stream of moving-square clips with a
   progress bar (clips per second);
3. the masked-token path checked against an attention-masked full run;
4. the model saved as a preset directory and loaded back by `from_preset`.

Results go to `outputs/main_job/` (`summary.json` and the preset).

Usage: python recipes/main_job.py [--num_batches 20] [--batch_size 8]
"""

import argparse
import json
import os
import time

import keras
import numpy as np

import keras_layerlock as kl

PAPER_COUNTS = {
    "4ds_vit_g": ("4DS-G", 1848e6),
    "4ds_vit_e": ("4DS-e", 3811e6),
    "vjepa_vit_l": ("V-JEPA-L (LayerLock)", 303e6),
}


def moving_squares(batch_size, frames, size, rng):
    """Clips of one bright square moving at a random constant velocity."""
    clips = np.zeros((batch_size, frames, size, size, 3), "float32")
    side = size // 4
    for b in range(batch_size):
        y, x = rng.integers(0, size - side, 2)
        vy, vx = rng.integers(-2, 3, 2)
        colour = rng.random(3)
        for t in range(frames):
            yy = int(np.clip(y + vy * t, 0, size - side))
            xx = int(np.clip(x + vx * t, 0, size - side))
            clips[b, t, yy : yy + side, xx : xx + side] = colour
    return clips


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--num_batches", type=int, default=20)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--output_dir", default="outputs/main_job")
    args = parser.parse_args()
    os.makedirs(args.output_dir, exist_ok=True)
    summary = {"backend": keras.backend.backend()}

    print("Parameter counts of the paper configurations")
    print(f"{'preset':<14}{'model':<24}{'ours':>16}{'paper':>10}{'diff':>8}")
    counts = {}
    for name, (label, paper) in PAPER_COUNTS.items():
        ours = kl.video_vit_parameter_count(**kl.VideoViTBackbone.preset_config(name))
        diff = (ours - paper) / paper
        counts[name] = {"ours": ours, "paper": paper, "relative_diff": diff}
        print(f"{name:<14}{label:<24}{ours:>16,}{paper / 1e6:>9.0f}M{diff:>+8.2%}")
    summary["parameter_counts"] = counts

    backbone = kl.VideoViTBackbone.from_preset("video_vit_tiny")
    print(f"\nvideo_vit_tiny: {backbone.count_params():,} parameters")
    rng = np.random.default_rng(0)
    frames, size = backbone.num_frames, backbone.image_size[0]
    progbar = keras.utils.Progbar(args.num_batches, unit_name="batch")
    clips_seen, start = 0, None
    for step in range(args.num_batches):
        clips = moving_squares(args.batch_size, frames, size, rng)
        features = backbone.predict_on_batch(clips)
        if step == 0:  # exclude tracing/compilation from the rate
            start = time.perf_counter()
        else:
            clips_seen += args.batch_size
        progbar.update(step + 1, [("feature_std", float(np.std(features[-1])))])
    rate = clips_seen / max(time.perf_counter() - start, 1e-9)
    print(f"forward: {rate:.1f} clips/s on {keras.backend.backend()}")
    summary["forward_clips_per_second"] = rate
    summary["feature_shapes"] = [list(f.shape) for f in features]

    tokens, positions = backbone.embed(clips)
    keep = np.sort(rng.permutation(tokens.shape[1])[: tokens.shape[1] // 4])
    keep = np.broadcast_to(keep, (clips.shape[0], keep.size))
    subset = backbone.encode(
        kl.utils.gather_tokens(tokens, keep), kl.utils.gather_positions(positions, keep)
    )[-1]
    mask = np.zeros((clips.shape[0], tokens.shape[1]), bool)
    np.put_along_axis(mask, keep, True, axis=1)
    full = backbone.encode(tokens, positions, attention_mask=mask)[-1]
    full = np.take_along_axis(keras.ops.convert_to_numpy(full), keep[..., None], 1)
    gap = float(np.abs(keras.ops.convert_to_numpy(subset) - full).max())
    print(f"masked-token path vs attention-masked full run: max |diff| = {gap:.2e}")
    summary["masked_path_max_abs_diff"] = gap

    preset_dir = os.path.join(args.output_dir, "video_vit_tiny_random")
    backbone.save_to_preset(preset_dir)
    reloaded = kl.VideoViTBackbone.from_preset(preset_dir)
    same = np.allclose(
        keras.ops.convert_to_numpy(reloaded(clips)[-1]),
        keras.ops.convert_to_numpy(backbone(clips)[-1]),
        atol=1e-6,
    )
    print(f"preset saved to {preset_dir} and reloaded: identical outputs = {same}")
    summary["preset_dir"] = preset_dir
    summary["preset_reload_identical"] = bool(same)
    with open(os.path.join(args.output_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    if gap > 1e-4 or not same:
        raise SystemExit("main job checks failed")


if __name__ == "__main__":
    main()
