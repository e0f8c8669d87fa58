import hashlib
import json
import os
import warnings

import numpy as np

from keras_layerlock.data.procedural.renderer import render_scene
from keras_layerlock.data.procedural.scene import APPEARANCE_CLASSES
from keras_layerlock.data.procedural.scene import DIFFICULTIES
from keras_layerlock.data.procedural.scene import MOTION_CLASSES
from keras_layerlock.data.procedural.scene import sample_scene

TASKS = ("motion", "appearance", "depth")
SPLITS = ("train", "validation", "test")
# 4DS ScanNet protocol: depth targets outside (0.001, 10) m are masked out.
DEPTH_VALID_RANGE = (0.001, 10.0)
_FORMAT_VERSION = 3
_SHARD_SIZE = 256


def default_cache_dir():
    """`$KERAS_LAYERLOCK_CACHE` or `~/.cache/keras_layerlock`."""
    return os.environ.get(
        "KERAS_LAYERLOCK_CACHE",
        os.path.join(os.path.expanduser("~"), ".cache", "keras_layerlock"),
    )


def depth_validity_mask(depth):
    """True where a depth target lies inside the 4DS range (0.001, 10) m."""
    low, high = DEPTH_VALID_RANGE
    return (depth > low) & (depth < high)


class ProceduralVideoSuite:
    """A built-in, procedurally rendered stand-in for the 4DS video suite.

    Each clip shows a textured "actor" object (a sphere or a box) in front
    of a patterned wall and floor (and, at the `"cluttered"` level, one or
    two static distractors), seen by a slowly drifting and panning pinhole
    camera, ray-cast with occlusion by depth. Every clip carries labels for
    three tasks that mirror the 4DS perception suite (Carreira et al.,
    2024; used by LayerLock, Erdogan et al., 2025):

    - `"motion"` (SSv2-like): what the actor does over the clip, one of
      `MOTION_CLASSES` (move left/right/up/down, approach, recede, rotate
      clockwise/counter-clockwise). Trajectories are symmetric around the
      middle of the clip, so one frame carries (almost) no information.
    - `"appearance"` (Kinetics-like): how the scene looks, one of
      `APPEARANCE_CLASSES`: the pattern family of the wall and floor
      (stripes of three orientations, checker, dots, rings, grid, waves)
      with random colours, scale and phase, so neither colour nor
      brightness gives it away.
    - `"depth"` (ScanNet-like): per-pixel camera-frame depth in metres for
      every frame. The wall's distance varies per clip (8-13 m: beyond the
      10 m limit in about 40 % of clips, whose wall pixels are invalid,
      `depth_validity_mask`), and at the standard level the actor's image
      size tells its distance, so depth has structure beyond a per-pixel
      prior.

    `tools/calibrate_suite.py` measures, per task, chance, trivial
    baselines, a random-init backbone with a readout (the floor) and the
    same backbone trained end to end with labels (the ceiling).

    Clips are a pure function of `(seed, split, index)`: each split draws
    from its own `numpy.random.SeedSequence` branch, so splits never share a
    seed, and any clip can be regenerated alone.

    Args:
        num_frames: int. Frames per clip; defaults to 16.
        image_size: int or `(height, width)`; defaults to 64.
        seed: int. Suite seed; defaults to 0.
        focal_length: float, in image widths; defaults to 1.0.
        difficulty: `"standard"` (default: no distractors, a large actor,
            a gentle camera) or `"cluttered"` (distractors, a smaller actor
            without a size cue to its depth, a livelier camera).

    Example:
    ```python
    suite = keras_layerlock.data.ProceduralVideoSuite(num_frames=8, image_size=32)
    clip = suite.generate("train", 0)
    clip["video"].shape, clip["motion"], clip["depth"].shape
    videos, labels = suite.arrays("motion", "train", num_examples=64)
    ```
    """

    def __init__(self, num_frames=16, image_size=64, seed=0, focal_length=1.0,
                 difficulty="standard"):
        if isinstance(image_size, int):
            image_size = (image_size, image_size)
        image_size = tuple(int(s) for s in image_size)
        if int(num_frames) <= 0 or len(image_size) != 2 or min(image_size) <= 0:
            raise ValueError(
                "`num_frames` and `image_size` must be positive. Received: "
                f"num_frames={num_frames}, image_size={image_size}"
            )
        if difficulty not in DIFFICULTIES:
            raise ValueError(
                f"Unknown difficulty {difficulty!r}. Expected one of {DIFFICULTIES}."
            )
        self.difficulty = difficulty
        self.num_frames = int(num_frames)
        self.image_size = image_size
        self.seed = int(seed)
        self.focal_length = float(focal_length)

    @staticmethod
    def num_classes(task):
        _check_task(task)
        return {"motion": len(MOTION_CLASSES), "appearance": len(APPEARANCE_CLASSES)}.get(task)

    @staticmethod
    def class_names(task):
        _check_task(task)
        return {"motion": MOTION_CLASSES, "appearance": APPEARANCE_CLASSES}.get(task)

    def clip_seed(self, split, index):
        """The entropy tuple that determines clip `index` of `split`."""
        return (self.seed, SPLITS.index(_check_split(split)), int(index))

    def scene(self, split, index):
        rng = np.random.default_rng(np.random.SeedSequence(self.clip_seed(split, index)))
        return sample_scene(rng, self.num_frames, self.difficulty)

    def generate(self, split, index, return_layers=False):
        """Renders one clip.

        Returns:
            dict: `video (T, H, W, 3) uint8`, `depth (T, H, W) float32`
            metres, `instances (T, H, W) int32` (0 wall, 1 floor, 2 actor,
            3+ distractors), and int labels `motion`, `appearance`, `shape`,
            `texture`; with `return_layers`, per-surface depth maps.
        """
        scene = self.scene(split, index)
        out = render_scene(
            scene,
            self.image_size[0],
            self.image_size[1],
            focal_length=self.focal_length,
            return_layers=return_layers,
        )
        out["video"] = np.round(out["video"] * 255.0).astype("uint8")
        for key in ("motion", "appearance", "shape", "texture"):
            out[key] = scene[key]
        return out

    def fingerprint(self):
        spec = {
            "num_frames": self.num_frames,
            "image_size": self.image_size,
            "seed": self.seed,
            "focal_length": self.focal_length,
            "difficulty": self.difficulty,
            "version": _FORMAT_VERSION,
        }
        digest = hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()
        height, width = self.image_size
        return (f"procedural_{self.difficulty}_{self.num_frames}x{height}x{width}"
                f"_s{self.seed}_{digest[:8]}")

    def _render_range(self, split, start, stop):
        clips = [self.generate(split, i) for i in range(start, stop)]
        return {
            "video": np.stack([c["video"] for c in clips]),
            "depth": np.stack([c["depth"] for c in clips]).astype("float16"),
            "motion": np.array([c["motion"] for c in clips], "int32"),
            "appearance": np.array([c["appearance"] for c in clips], "int32"),
        }

    def load_split(self, split, num_examples, cache_dir=None, verbose=True, num_workers=None):
        """All clips `0 ... num_examples - 1` of a split, as arrays.

        With `cache_dir` (e.g. `default_cache_dir()`), clips are stored in
        `.npz` shards of 256 under a directory named by the suite's
        parameters and reused by later calls; missing shards are rendered
        with a progress bar, and so are damaged ones (cut short, not a zip,
        wrong contents), with a warning that names the shard. `num_workers > 1` renders in that many fresh
        processes, which pays off only for thousands of clips (each process
        starts by importing the library).

        Returns:
            dict of arrays `video (N, T, H, W, 3) uint8`, `depth (N, T, H, W)
            float16`, `motion (N,)`, `appearance (N,)`.
        """
        _check_split(split)
        num_examples = int(num_examples)
        if num_examples <= 0:
            raise ValueError(f"`num_examples` must be positive; received {num_examples}.")
        ranges = [
            (s, min(s + _SHARD_SIZE, num_examples))
            for s in range(0, num_examples, _SHARD_SIZE)
        ]
        paths = [None] * len(ranges)
        if cache_dir is not None:
            directory = os.path.join(cache_dir, self.fingerprint(), split)
            os.makedirs(directory, exist_ok=True)
            paths = [
                os.path.join(directory, f"clips_{s:07d}_{e:07d}.npz") for s, e in ranges
            ]
        shards = {}
        for i, path in enumerate(paths):
            if path is not None and os.path.exists(path):
                shard = _read_shard(path, ranges[i][1] - ranges[i][0])
                if shard is not None:
                    shards[i] = shard
        todo = [i for i in range(len(ranges)) if i not in shards]
        if todo:
            shards.update(self._render_shards(split, ranges, todo, verbose, num_workers))
            for i in todo:
                if paths[i] is not None:
                    tmp = paths[i] + ".tmp.npz"
                    np.savez(tmp, **shards[i])
                    os.replace(tmp, paths[i])
        return {
            key: np.concatenate([shards[i][key] for i in range(len(ranges))])
            for key in ("video", "depth", "motion", "appearance")
        }

    def _render_shards(self, split, ranges, todo, verbose, num_workers):
        import keras

        num_workers = num_workers or 1
        # Work units of 16 clips keep the progress bar moving.
        units = [
            (i, s, min(s + 16, ranges[i][1]))
            for i in todo
            for s in range(ranges[i][0], ranges[i][1], 16)
        ]
        total = sum(e - s for _, s, e in units)
        progbar = keras.utils.Progbar(total, unit_name="clip") if verbose else None
        parts = {i: [] for i in todo}
        if num_workers > 1 and len(units) > 1:
            import multiprocessing

            context = multiprocessing.get_context("spawn")
            with context.Pool(num_workers) as pool:
                results = pool.imap(
                    _render_unit,
                    [(self._spec(), split, s, e) for _, s, e in units],
                )
                for (i, s, e), part in zip(units, results):
                    parts[i].append(part)
                    if progbar:
                        progbar.add(e - s)
        else:
            for i, s, e in units:
                parts[i].append(self._render_range(split, s, e))
                if progbar:
                    progbar.add(e - s)
        return {
            i: {k: np.concatenate([p[k] for p in plist]) for k in plist[0]}
            for i, plist in parts.items()
        }

    def _spec(self):
        return (self.num_frames, self.image_size, self.seed, self.focal_length,
                self.difficulty)

    def arrays(self, task, split, num_examples, cache_dir=None, verbose=True):
        """`(videos, targets)` for one task: float32 videos in [0, 1].

        Targets are int class ids for `"motion"` / `"appearance"` and
        float32 depth maps `(N, T, H, W)` in metres for `"depth"`.
        """
        data = self.load_split(split, num_examples, cache_dir=cache_dir, verbose=verbose)
        return data["video"].astype("float32") / 255.0, task_targets(data, task)


def task_targets(data, task):
    """A task's targets from `load_split` arrays: class ids, or float32 depth."""
    _check_task(task)
    return data["depth"].astype("float32") if task == "depth" else data[task]


def _render_unit(args):
    spec, split, start, stop = args
    suite = ProceduralVideoSuite(*spec)
    return suite._render_range(split, start, stop)


def _check_task(task):
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}. Expected one of {TASKS}.")
    return task


def _check_split(split):
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}. Expected one of {SPLITS}.")
    return split


_SHARD_KEYS = ("video", "depth", "motion", "appearance")


def _read_shard(path, num_clips):
    """A cached shard's arrays, or None (with a warning, the file removed)
    when it cannot be read whole: it is then rendered again."""
    try:
        with np.load(path) as data:
            shard = {key: data[key] for key in data.files}
        missing = [key for key in _SHARD_KEYS if key not in shard]
        if missing:
            raise ValueError(f"it lacks {missing}")
        lengths = {key: len(shard[key]) for key in _SHARD_KEYS}
        if set(lengths.values()) != {num_clips}:
            raise ValueError(f"it holds {lengths} clips where {num_clips} were expected")
    except Exception as error:  # zipfile.BadZipFile, EOFError, zlib.error, OSError, ...
        warnings.warn(
            f"The procedural cache shard {path} is damaged ({type(error).__name__}: {error}); "
            "rendering it again.",
            stacklevel=3,
        )
        os.remove(path)
        return None
    return shard
