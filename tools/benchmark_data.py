"""Throughput of the data pipelines.

1. Procedural suite: clips rendered per second on one core (the process is
   pinned to one CPU) at the tiny-run size (8 x 32 x 32) and the default
   size (16 x 64 x 64), and clips per second read back from the cache.
2. Video-folder pipeline: writes `--num_videos` MP4 files (320 x 240,
   `--video_frames` frames) to a temporary folder, then measures clips per
   second of `VideoFolderDataset` (16 frames, stride 2, 224 crop, training
   augmentation) with 1 and 2 decoding threads, and of its tf.data form.

Usage: python tools/benchmark_data.py [--num_clips 200] [--num_videos 32]
Prints a table and writes outputs/benchmarks/data_throughput.json.
"""

import argparse
import json
import os
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

import keras_layerlock as kl


def procedural_rate(num_frames, size, num_clips):
    suite = kl.data.ProceduralVideoSuite(num_frames=num_frames, image_size=size)
    suite.generate("train", 0)  # warm up
    start = time.perf_counter()
    for i in range(num_clips):
        suite.generate("train", i)
    return num_clips / (time.perf_counter() - start)


def cached_rate(num_frames, size, num_clips, cache_dir):
    suite = kl.data.ProceduralVideoSuite(num_frames=num_frames, image_size=size)
    suite.load_split("train", num_clips, cache_dir=cache_dir, verbose=False)
    start = time.perf_counter()
    suite.load_split("train", num_clips, cache_dir=cache_dir, verbose=False)
    return num_clips / (time.perf_counter() - start)


def write_videos(root, num_videos, num_frames):
    rng = np.random.default_rng(0)
    for i in range(num_videos):
        class_dir = os.path.join(root, f"class_{i % 4}")
        os.makedirs(class_dir, exist_ok=True)
        writer = cv2.VideoWriter(
            os.path.join(class_dir, f"video_{i}.mp4"),
            cv2.VideoWriter_fourcc(*"mp4v"), 25, (320, 240),
        )
        base = (rng.random((240, 320, 3)) * 255).astype(np.uint8)
        for t in range(num_frames):
            writer.write(np.roll(base, 4 * t, axis=1))
        writer.release()


def folder_rate(root, workers, use_tf):
    sampler = kl.data.VideoClipSampler(
        num_frames=16, stride=2, crop_size=224, training=True,
        colour_augmentation_probability=0.8, greyscale_probability=0.1, seed=0,
    )
    data = kl.data.VideoFolderDataset(root, sampler=sampler, batch_size=8, workers=workers)
    start = time.perf_counter()
    count = 0
    if use_tf:
        for clips, _ in data.as_tf_dataset():
            count += int(clips.shape[0])
    else:
        # What `fit` does with a threaded PyDataset: a pool over batches.
        with ThreadPoolExecutor(workers) as pool:
            for clips, _ in pool.map(data.__getitem__, range(len(data))):
                count += len(clips)
    return count / (time.perf_counter() - start), data.statistics.as_dict()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--num_clips", type=int, default=200)
    parser.add_argument("--num_videos", type=int, default=32)
    parser.add_argument("--video_frames", type=int, default=64)
    parser.add_argument("--output", default="outputs/benchmarks/data_throughput.json")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    rows = []
    if hasattr(os, "sched_setaffinity"):
        cpus = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {min(cpus)})
    with tempfile.TemporaryDirectory() as cache_dir:
        for frames, size in ((8, 32), (16, 64)):
            rows.append({
                "pipeline": f"procedural render {frames}x{size}x{size} (1 core)",
                "clips_per_second": procedural_rate(frames, size, args.num_clips),
            })
            rows.append({
                "pipeline": f"procedural cache read {frames}x{size}x{size}",
                "clips_per_second": cached_rate(frames, size, args.num_clips, cache_dir),
            })
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cpus)
    with tempfile.TemporaryDirectory() as root:
        write_videos(root, args.num_videos, args.video_frames)
        for workers, use_tf in ((1, False), (2, False), (2, True)):
            rate, stats = folder_rate(root, workers, use_tf)
            name = "tf.data" if use_tf else f"PyDataset, {workers} thread(s)"
            rows.append({
                "pipeline": f"video folder 320x240 mp4 -> 16x224x224 ({name})",
                "clips_per_second": rate,
                "skipped": stats["skipped"],
            })
    width = max(len(r["pipeline"]) for r in rows)
    print(f"{'pipeline':<{width}}  clips/s")
    for r in rows:
        print(f"{r['pipeline']:<{width}}  {r['clips_per_second']:7.1f}")
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump({"cpu_count": os.cpu_count(), "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
