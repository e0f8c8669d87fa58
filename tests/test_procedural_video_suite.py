import glob
import warnings

import keras
import numpy as np
import pytest

import keras_layerlock as kl
from keras_layerlock.data import MOTION_CLASSES
from keras_layerlock.data import ProceduralVideoSuite

SMALL = dict(num_frames=8, image_size=32)
ACTOR = 2  # instance id of the labelled object


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("procedural_cache"))


def test_clips_are_deterministic_per_seed():
    a = ProceduralVideoSuite(**SMALL).generate("train", 5)
    b = ProceduralVideoSuite(**SMALL).generate("train", 5)
    for key in ("video", "depth", "instances"):
        np.testing.assert_array_equal(a[key], b[key])
    assert a["motion"] == b["motion"] and a["appearance"] == b["appearance"]
    other = ProceduralVideoSuite(seed=1, **SMALL).generate("train", 5)
    assert np.abs(other["video"].astype(int) - a["video"]).mean() > 5


def test_any_frame_count_and_resolution():
    clip = ProceduralVideoSuite(num_frames=3, image_size=(24, 40)).generate("test", 0)
    assert clip["video"].shape == (3, 24, 40, 3) and clip["video"].dtype == np.uint8
    assert clip["depth"].shape == (3, 24, 40)
    default = ProceduralVideoSuite()
    assert (default.num_frames, default.image_size) == (16, (64, 64))


def test_splits_never_share_a_seed():
    suite = ProceduralVideoSuite(**SMALL)
    seeds = {
        split: {suite.clip_seed(split, i) for i in range(200)}
        for split in ("train", "validation", "test")
    }
    assert not seeds["train"] & seeds["validation"]
    assert not seeds["train"] & seeds["test"]
    assert not seeds["validation"] & seeds["test"]
    train = suite.generate("train", 0)["video"]
    val = suite.generate("validation", 0)["video"]
    assert np.abs(train.astype(int) - val).mean() > 5


def _actor_track(clip):
    mask = clip["instances"] == ACTOR
    rows, cols = np.indices(mask.shape[1:])
    area = mask.sum((1, 2))
    cy = (mask * rows).sum((1, 2)) / np.maximum(area, 1)
    cx = (mask * cols).sum((1, 2)) / np.maximum(area, 1)
    depth = np.array([np.median(d[m]) if m.any() else np.nan for d, m in zip(clip["depth"], mask)])
    return area, cx, cy, depth


def test_actor_moves_as_its_label_says():
    suite = ProceduralVideoSuite(num_frames=8, image_size=48)
    checked = set()
    for i in range(120):
        clip = suite.generate("train", i)
        name = MOTION_CLASSES[clip["motion"]]
        area, cx, cy, depth = _actor_track(clip)
        first, last = 0, len(area) - 1
        if area[first] < 30 or area[last] < 30:
            continue  # mostly hidden behind a distractor or the frame edge
        if name == "move_left":
            assert cx[last] < cx[first] - 3, (i, cx)
        elif name == "move_right":
            assert cx[last] > cx[first] + 3, (i, cx)
        elif name == "move_up":  # image rows grow downwards
            assert cy[last] < cy[first] - 3, (i, cy)
        elif name == "move_down":
            assert cy[last] > cy[first] + 3, (i, cy)
        elif name == "approach":
            assert depth[last] < depth[first] - 1 and area[last] > area[first]
        elif name == "recede":
            assert depth[last] > depth[first] + 1 and area[last] < area[first]
        checked.add(name)
    assert {"move_left", "move_right", "move_up", "move_down", "approach", "recede"} <= checked


def test_rotation_labels_follow_the_image_plane_convention():
    """A surface point of the actor turns clockwise on screen for 'clockwise'."""
    suite = ProceduralVideoSuite(**SMALL)
    seen = set()
    for i in range(80):
        scene = suite.scene("train", i)
        name = MOTION_CLASSES[scene["motion"]]
        if not name.startswith("rotate"):
            continue
        actor = scene["objects"][0]
        marker = actor["centres"] + actor["rotations"] @ np.array([0.5, 0.0, 0.0])
        offset = marker - actor["centres"]
        # Screen angle (x right, y up): counter-clockwise is increasing.
        angles = np.unwrap(np.arctan2(offset[:, 1], offset[:, 0]))
        turn = angles[-1] - angles[0]
        assert (turn < 0) == (name == "rotate_clockwise"), (i, name, turn)
        seen.add(name)
    assert seen == {"rotate_clockwise", "rotate_counterclockwise"}


def test_depth_ordering_matches_occlusion():
    suite = ProceduralVideoSuite(**SMALL)
    for i in range(6):
        clip = suite.generate("validation", i, return_layers=True)
        layers = clip["layers"]
        np.testing.assert_array_equal(clip["instances"], np.argmin(layers, 0))
        np.testing.assert_allclose(clip["depth"], layers.min(0), rtol=1e-6)
        # Wherever two objects overlap on screen, the visible one is nearer.
        for k in range(2, layers.shape[0]):
            for j in range(2, layers.shape[0]):
                both = np.isfinite(layers[k]) & np.isfinite(layers[j])
                front = both & (clip["instances"] == k)
                assert np.all(layers[k][front] <= layers[j][front])
        assert np.isfinite(clip["depth"]).all() and (clip["depth"] > 0).all()


def test_depth_is_metric_with_an_invalid_far_wall_in_some_clips():
    suite = ProceduralVideoSuite(**SMALL)
    invalid_walls = valid_walls = 0
    for i in range(24):
        clip = suite.generate("train", i)
        valid = kl.data.depth_validity_mask(clip["depth"])
        wall = clip["instances"] == 0
        assert wall.any()
        # The wall's distance varies per clip: in some it is valid, in
        # others (nearly) all beyond 10 m.
        fraction = valid[wall].mean()
        invalid_walls += int(fraction < 0.1)
        valid_walls += int(fraction > 0.9)
        objects = clip["instances"] >= 2
        assert valid[objects].all() and clip["depth"][objects].max() < 10
    assert invalid_walls >= 3 and valid_walls >= 3
    assert kl.data.DEPTH_VALID_RANGE == (0.001, 10.0)


def test_appearance_label_is_the_scene_pattern_not_its_colour():
    suite = ProceduralVideoSuite(**SMALL)
    for i in range(10):
        scene = suite.scene("train", i)
        name = kl.data.APPEARANCE_CLASSES[scene["appearance"]]
        assert scene["background"]["pattern"]["name"] == name
    # A clip's mean colour (hence brightness) says nothing about the class:
    # nearest class-mean classification on it stays near chance.
    data = suite.load_split("train", 768, verbose=False)
    colour = data["video"].reshape(768, -1, 3).mean(1)
    labels = data["appearance"]
    centres = np.stack([colour[:512][labels[:512] == c].mean(0) for c in range(8)])
    scale = colour[:512].std(0)
    distances = (((colour[512:, None] - centres[None]) / scale) ** 2).sum(-1)
    accuracy = (distances.argmin(1) == labels[512:]).mean()
    assert accuracy < 0.125 + 0.1, accuracy


def test_difficulty_levels():
    standard = ProceduralVideoSuite(**SMALL)
    cluttered = ProceduralVideoSuite(difficulty="cluttered", **SMALL)
    assert all(len(standard.scene("train", i)["objects"]) == 1 for i in range(20))
    assert all(len(cluttered.scene("train", i)["objects"]) in (2, 3) for i in range(20))
    assert standard.fingerprint() != cluttered.fingerprint()
    # Same labels per index at both levels: only the clutter changes.
    assert [standard.scene("train", i)["motion"] for i in range(10)] == [
        cluttered.scene("train", i)["motion"] for i in range(10)]
    with pytest.raises(ValueError, match="difficulty"):
        ProceduralVideoSuite(difficulty="hard")


def _grey_frames(videos, single, rng):
    g = videos.astype("float32").mean(-1) / 255.0  # (N, T, H, W)
    if single:  # one frame per clip, picked at random
        g = g[np.arange(len(g)), rng.integers(0, g.shape[1], len(g))][:, None]
    g = g - g.mean(axis=(1, 2, 3), keepdims=True)
    g = g / (g.std(axis=(1, 2, 3), keepdims=True) + 1e-3)
    return np.transpose(g, (0, 2, 3, 1))


def _small_cnn(channels):
    inputs = keras.Input((32, 32, channels))
    x = inputs
    for filters in (16, 32, 32):
        x = keras.layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(len(MOTION_CLASSES))(x))
    model.compile(
        keras.optimizers.Adam(2e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def test_motion_class_cannot_be_read_from_one_frame(cache_dir):
    suite = ProceduralVideoSuite(**SMALL)
    train = suite.load_split("train", 768, cache_dir=cache_dir, verbose=False)
    val = suite.load_split("validation", 384, cache_dir=cache_dir, verbose=False)
    chance = 1.0 / len(MOTION_CLASSES)
    accuracy = {}
    for single in (False, True):
        rng = np.random.default_rng(0)
        x_train = _grey_frames(train["video"], single, rng)
        x_val = _grey_frames(val["video"], single, rng)
        model = _small_cnn(x_train.shape[-1])
        model.fit(x_train, train["motion"], epochs=20, batch_size=64, verbose=0)
        accuracy[single] = model.evaluate(x_val, val["motion"], verbose=0)[1]
    # Three binomial standard errors above chance on 384 clips is 0.175.
    assert accuracy[True] < chance + 0.05, accuracy
    assert accuracy[False] > chance + 0.2, accuracy


def test_cache_round_trip_and_one_call_datasets(cache_dir):
    suite = ProceduralVideoSuite(**SMALL)
    first = suite.load_split("test", 40, cache_dir=cache_dir, verbose=False)
    again = suite.load_split("test", 40, cache_dir=cache_dir, verbose=False)
    direct = suite.load_split("test", 40, cache_dir=None, verbose=False)
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])
        np.testing.assert_array_equal(first[key], direct[key])
    clip = suite.generate("test", 7)
    np.testing.assert_array_equal(first["video"][7], clip["video"])

    for task, target_shape in (("motion", ()), ("appearance", ()), ("depth", (8, 32, 32))):
        for fmt in ("tf", "py"):
            train, val = kl.data.load_procedural_task(
                task, num_examples={"train": 24, "validation": 8}, batch_size=8,
                cache_dir=cache_dir, format=fmt, verbose=False, **SMALL,
            )
            videos, targets = next(iter(train)) if fmt == "tf" else train[0]
            assert tuple(videos.shape) == (8, 8, 32, 32, 3)
            assert str(videos.dtype) in ("float32", "<dtype: 'float32'>")
            assert float(np.max(videos)) <= 1.0 and float(np.min(videos)) >= 0.0
            assert tuple(targets.shape) == (8,) + target_shape


@pytest.mark.parametrize("fmt", ["tf", "py"])
def test_datasets_feed_fit(fmt, cache_dir):
    train, val = kl.data.load_procedural_task(
        "appearance", num_examples={"train": 32, "validation": 16}, batch_size=8,
        cache_dir=cache_dir, format=fmt, verbose=False, **SMALL,
    )
    model = keras.Sequential([
        keras.Input((8, 32, 32, 3)),
        keras.layers.GlobalAveragePooling3D(),
        keras.layers.Dense(len(kl.data.APPEARANCE_CLASSES)),
    ])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(train, validation_data=val, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and np.isfinite(history.history["val_loss"]).all()


def test_bad_arguments():
    with pytest.raises(ValueError, match="Unknown split"):
        ProceduralVideoSuite(**SMALL).generate("dev", 0)
    with pytest.raises(ValueError, match="Unknown task"):
        kl.data.load_procedural_task("flow", cache_dir=None)
    with pytest.raises(ValueError, match="positive"):
        ProceduralVideoSuite(num_frames=0)


@pytest.mark.parametrize("damage", ["cut", "garbage", "empty"])
def test_a_damaged_cache_shard_is_named_and_rendered_again(tmp_path, damage):
    suite = ProceduralVideoSuite(num_frames=4, image_size=16, seed=0)
    first = suite.load_split("validation", 6, cache_dir=str(tmp_path), verbose=False)
    (shard,) = glob.glob(str(tmp_path / "**" / "clips_*.npz"), recursive=True)
    data = open(shard, "rb").read()
    damaged = {"cut": data[: len(data) // 2], "garbage": b"not a zip" * 10, "empty": b""}[damage]
    open(shard, "wb").write(damaged)
    with pytest.warns(UserWarning, match=r"cache shard .*clips_0000000_0000006.npz is damaged"):
        again = suite.load_split("validation", 6, cache_dir=str(tmp_path), verbose=False)
    for key in first:
        np.testing.assert_array_equal(again[key], first[key])
    # The shard was written again, whole: the next call reads it silently.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        suite.load_split("validation", 6, cache_dir=str(tmp_path), verbose=False)
