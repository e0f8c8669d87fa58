import os
import warnings

import cv2
import keras
import numpy as np
import pytest

import keras_layerlock as kl
from keras_layerlock.data import VideoClipSampler
from keras_layerlock.data import VideoFolderDataset
from keras_layerlock.data.video_augmentation import clip_indices
from keras_layerlock.data.video_augmentation import sample_clip_starts

COLOURS = {"red": (255, 0, 0), "blue": (0, 0, 255)}  # RGB


def write_video(path, colour, num_frames=24, size=(48, 64), codec="mp4v"):
    h, w = size
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*codec), 12, (w, h))
    assert writer.isOpened(), path
    for t in range(num_frames):
        frame = np.zeros((h, w, 3), np.uint8)
        frame[:] = colour[::-1]  # OpenCV writes BGR
        frame[:4, : 2 + t] = 128  # a growing bar marks the frame index
        writer.write(frame)
    writer.release()


@pytest.fixture(scope="module")
def video_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    codecs = [("mp4", "mp4v"), ("avi", "MJPG"), ("webm", "VP80")]
    for name, colour in COLOURS.items():
        os.makedirs(root / name)
        for i, (ext, codec) in enumerate(codecs):
            write_video(str(root / name / f"clip{i}.{ext}"), colour, codec=codec)
    # Bad files, all in class "red": random bytes, zero bytes, a truncated AVI.
    (root / "red" / "corrupt.mp4").write_bytes(np.random.default_rng(0).bytes(5000))
    (root / "red" / "empty.mp4").write_bytes(b"")
    write_video(str(root / "blue" / "long.avi"), COLOURS["blue"], num_frames=40, codec="MJPG")
    data = (root / "blue" / "long.avi").read_bytes()
    (root / "blue" / "long.avi").unlink()
    (root / "blue" / "truncated.avi").write_bytes(data[: len(data) // 2])
    return str(root)


def test_clip_sampling_modes():
    rng = np.random.default_rng(0)
    starts = {int(sample_clip_starts(100, 16, 2, "random", rng)[0]) for _ in range(200)}
    assert min(starts) >= 0 and max(starts) <= 100 - 31 and len(starts) > 30
    assert sample_clip_starts(100, 16, 2, "center")[0] == (100 - 31) // 2
    uniform = sample_clip_starts(100, 16, 2, "uniform", num_clips=7)
    assert len(uniform) == 7 and uniform[0] == 0 and uniform[-1] == 69
    assert np.allclose(np.diff(uniform), 69 / 6, atol=1)
    # Short videos repeat their last frame.
    np.testing.assert_array_equal(clip_indices(0, 4, 3, 5), [0, 3, 4, 4])


def test_sampler_resize_crop_and_test_clips():
    frames = (np.random.default_rng(0).random((40, 60, 80, 3)) * 255).astype(np.uint8)
    sampler = VideoClipSampler(num_frames=8, stride=2, crop_size=32)
    assert sampler.resize_size == 37  # ceil(1.15 * 32)
    clip = sampler(frames)
    assert clip.shape == (8, 32, 32, 3) and clip.dtype == np.float32
    np.testing.assert_array_equal(clip, sampler(frames))  # evaluation: deterministic
    multi = VideoClipSampler(num_frames=8, stride=2, crop_size=32, num_test_clips=7)
    assert multi(frames).shape == (7, 8, 32, 32, 3) == multi.output_shape
    ssv2 = VideoClipSampler(crop_size=224, min_resize_factor=239 / 224)
    assert ssv2.resize_size == 239
    with pytest.raises(ValueError, match="at least one frame"):
        sampler(np.zeros((0, 60, 80, 3), np.uint8))
    with pytest.raises(ValueError, match="min_resize_factor"):
        VideoClipSampler(min_resize_factor=0.9)


def test_colour_augmentation_ranges_and_greyscale():
    rng = np.random.default_rng(1)
    clip = np.random.default_rng(2).uniform(0.3, 0.7, (4, 8, 8, 3)).astype("float32")
    shifted = kl.data.colour_augment(
        clip, rng, saturation=(1, 1), contrast=(1, 1), hue=0.0
    )
    delta = shifted - clip
    assert np.allclose(delta, delta.flat[0], atol=1e-6)  # one brightness delta
    assert abs(delta.flat[0]) <= 0.125
    hued = kl.data.colour_augment(clip, rng, brightness=0.0, saturation=(1, 1), contrast=(1, 1))
    assert np.abs(hued - clip).max() > 1e-3 and hued.min() >= 0 and hued.max() <= 1
    grey = kl.data.greyscale(clip)
    np.testing.assert_allclose(grey[..., 0], grey[..., 2])
    # Augmenting in training changes clips; the draw is shared by all frames.
    sampler = VideoClipSampler(num_frames=4, stride=1, crop_size=8, training=True,
                               colour_augmentation_probability=1.0,
                               greyscale_probability=1.0, seed=0)
    out = sampler((clip * 255).astype(np.uint8))
    np.testing.assert_allclose(out[..., 0], out[..., 1], atol=1e-6)


def test_decoder_reports_each_kind_of_bad_file(video_folder):
    with pytest.raises(kl.data.VideoDecodeError, match="empty file"):
        kl.data.decode_video(os.path.join(video_folder, "red", "empty.mp4"))
    with pytest.raises(kl.data.VideoDecodeError, match="cannot open|no frame"):
        kl.data.decode_video(os.path.join(video_folder, "red", "corrupt.mp4"))
    with pytest.raises(kl.data.VideoDecodeError, match="truncated"):
        kl.data.decode_video(os.path.join(video_folder, "blue", "truncated.avi"))
    partial = kl.data.decode_video(
        os.path.join(video_folder, "blue", "truncated.avi"), allow_truncated=True
    )
    assert 0 < len(partial) < 40
    with pytest.raises(kl.data.VideoDecodeError, match="no such file"):
        kl.data.decode_video(os.path.join(video_folder, "missing.mp4"))
    frames = kl.data.decode_video(os.path.join(video_folder, "blue", "clip1.avi"))
    assert frames.shape == (24, 48, 64, 3)
    assert frames[0, 20:, :, 2].mean() > 200 and frames[0, 20:, :, 0].mean() < 50  # RGB


def _colour_of(clips):
    means = clips[..., 4:, :, :].mean(axis=(1, 2, 3))  # below the frame bar
    return np.where(means[:, 0] > means[:, 2], 1, 0)  # classes sorted: blue 0, red 1


def test_folder_dataset_skips_and_counts_bad_files(video_folder):
    sampler = VideoClipSampler(num_frames=4, stride=2, crop_size=32, training=True, seed=0)
    data = VideoFolderDataset(video_folder, sampler=sampler, batch_size=3)
    assert data.class_names == ["blue", "red"] and len(data.paths) == 9
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        batches = [data[i] for i in range(len(data))]
    for clips, labels in batches:
        assert clips.shape == (3, 4, 32, 32, 3)  # bad files replaced, never dropped
        # Labels follow the folders: red clips are "red" (index 1).
        np.testing.assert_array_equal(_colour_of(clips), labels)
    stats = data.statistics.as_dict()
    assert stats["skipped"] == 3
    assert {os.path.basename(p) for p in stats["skipped_files"]} == {
        "corrupt.mp4", "empty.mp4", "truncated.avi"
    }
    assert stats["decoded"] == 9
    assert sum("Skipping unreadable video" in str(w.message) for w in caught) == 3
    # 9 slots, 6 good videos: the 3 bad files' slots were filled by repeats, and
    # the statistics say which videos were read twice.
    assert stats["replacements"] == 3
    assert sum(stats["repeated_files"].values()) == 3
    assert not set(stats["repeated_files"]) & set(stats["skipped_files"])


def test_an_empty_class_folder_keeps_its_label_with_a_warning(tmp_path):
    for name in ("ant", "bee", "cat"):
        os.makedirs(tmp_path / name)
    write_video(str(tmp_path / "ant" / "a.avi"), COLOURS["red"], codec="MJPG")
    write_video(str(tmp_path / "cat" / "c.avi"), COLOURS["blue"], codec="MJPG")
    os.makedirs(tmp_path / ".ipynb_checkpoints")  # hidden folders are not classes
    sampler = VideoClipSampler(num_frames=4, stride=2, crop_size=16)
    with pytest.warns(UserWarning, match=r"\['bee'\] .*hold no videos.*bee=1"):
        data = VideoFolderDataset(str(tmp_path), sampler=sampler, batch_size=2)
    assert data.class_names == ["ant", "bee", "cat"]
    assert dict(zip(map(os.path.basename, data.paths), data.labels.tolist())) == {"a.avi": 0, "c.avi": 2}


@pytest.mark.parametrize("label, message", [
    ("-3", r"line 3: label -3 is not a class index >= 0"),
    ("dog", r"line 3: label 'dog' is not one of class_names \['blue', 'red'\]"),
    ("2", r"line 3: label 2 is not a class index \[0, 2\)"),
])
def test_csv_labels_that_are_not_classes_name_their_line(video_folder, tmp_path, label, message):
    clip = os.path.join(video_folder, "red", "clip0.mp4")
    numeric = label.lstrip("-").isdigit()
    first = "1" if numeric else "red"
    (tmp_path / "list.csv").write_text(f"path,label\n{clip},{first}\n{clip},{label}\n")
    names = ["blue", "red"] if label != "-3" else None
    with pytest.raises(ValueError, match=message):
        VideoFolderDataset(str(tmp_path / "list.csv"), class_names=names)


def test_each_epoch_of_a_folder_is_a_function_of_seed_and_epoch(video_folder):
    sampler = VideoClipSampler(num_frames=4, stride=2, crop_size=16, training=True, seed=0)
    first = VideoFolderDataset(video_folder, sampler=sampler, batch_size=3, seed=4)
    second = VideoFolderDataset(video_folder, sampler=sampler, batch_size=3, seed=4)
    first.on_epoch_end()
    first.on_epoch_end()
    second.set_epoch(2)
    np.testing.assert_array_equal(first._order, second._order)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_array_equal(first[0][0], second[0][0])


def test_csv_source_and_fit_on_both_pipelines(video_folder, tmp_path):
    csv_path = tmp_path / "list.csv"
    rows = ["path,label"]
    for name in COLOURS:
        for i, ext in enumerate(["mp4", "avi", "webm"]):
            rows.append(f"{os.path.join(video_folder, name, f'clip{i}.{ext}')},{name}")
    rows.append(f"{os.path.join(video_folder, 'red', 'empty.mp4')},red")
    csv_path.write_text("\n".join(rows) + "\n")
    sampler = VideoClipSampler(num_frames=4, stride=2, crop_size=16, training=True, seed=1)
    data = VideoFolderDataset(str(csv_path), sampler=sampler, batch_size=4, workers=2)
    assert data.class_names == ["blue", "red"]
    model = keras.Sequential([
        keras.Input((4, 16, 16, 3)),
        keras.layers.GlobalAveragePooling3D(),
        keras.layers.Dense(2),
    ])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(data, epochs=2, verbose=0)
        tf_data = data.as_tf_dataset()
        history = model.fit(tf_data, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    clips, labels = next(iter(tf_data))
    assert tuple(clips.shape) == (4, 4, 16, 16, 3)
    np.testing.assert_array_equal(_colour_of(np.asarray(clips)), np.asarray(labels))
    assert data.statistics.skipped == 1


def test_multi_clip_evaluation_batches(video_folder):
    sampler = VideoClipSampler(num_frames=4, stride=2, crop_size=16, num_test_clips=7)
    data = VideoFolderDataset(video_folder, sampler=sampler, batch_size=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clips, labels = data[0]
    assert clips.shape == (2, 7, 4, 16, 16, 3) and labels.shape == (2,)


def test_tfds_loader_with_mock_data():
    import tensorflow_datasets as tfds

    sampler = VideoClipSampler(num_frames=4, stride=2, crop_size=32, training=True)
    with tfds.testing.mock_data(num_examples=5):
        ds = kl.data.load_tfds_video("ucf101", "train", sampler=sampler, batch_size=2)
        clips, labels = next(iter(ds))
    assert tuple(clips.shape) == (2, 4, 32, 32, 3)
    assert tuple(labels.shape) == (2,)
    assert 0.0 <= float(np.min(clips)) and float(np.max(clips)) <= 1.0
    with pytest.raises(ValueError, match="video_key"):
        kl.data.load_tfds_video("not_a_video_set", "train")


def test_tf_dataset_starts_a_new_epoch_on_each_iteration(video_folder):
    """It replayed the first epoch's order and augmentation forever."""
    sampler = VideoClipSampler(num_frames=4, stride=2, crop_size=16, training=True, seed=3)
    data = VideoFolderDataset(video_folder, sampler=sampler, batch_size=2, workers=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tf_data = data.as_tf_dataset()
        first = [np.asarray(c) for c, _ in tf_data]
        second = [np.asarray(c) for c, _ in tf_data]
    assert len(first) == len(second) == len(data)
    assert data._epoch == 1
    assert any(not np.array_equal(a, b) for a, b in zip(first, second))
    # The second iteration is the PyDataset's second epoch, batch for batch.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, clips in enumerate(second):
            np.testing.assert_array_equal(clips, data[i][0])


def test_flat_folder_of_unlabelled_videos_feeds_pretraining(tmp_path):
    """A flat folder was refused with 'No video files found'."""
    for i, colour in enumerate(COLOURS.values()):
        write_video(str(tmp_path / f"v{i}.mp4"), colour)
    (tmp_path / "broken.mp4").write_bytes(b"")
    sampler = VideoClipSampler(num_frames=4, stride=2, crop_size=16, training=True, seed=0)
    data = VideoFolderDataset(str(tmp_path), sampler=sampler, batch_size=2, workers=1)
    assert not data.labeled and data.class_names is None and len(data.paths) == 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        batch = data[0]
        assert isinstance(batch, np.ndarray) and batch.shape == (2, 4, 16, 16, 3)
        tf_batches = [np.asarray(b) for b in data.as_tf_dataset()]
    assert tf_batches[0].shape[1:] == (4, 16, 16, 3)
    keras.utils.set_random_seed(0)
    backbone = kl.VideoViTBackbone(hidden_dim=16, num_layers=2, num_heads=2, intermediate_dim=32,
                                   patch_size=(2, 8, 8), num_frames=4, image_size=16)
    model = kl.LayerLockMAE(backbone, num_decoder_layers=1, mask_ratio=0.5, seed=0)
    model.compile(keras.optimizers.AdamW(1e-3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        history = model.fit(data, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_folder_layout_errors_say_what_to_do(tmp_path):
    with pytest.raises(ValueError, match="No video files found.*sub-folder per class"):
        VideoFolderDataset(str(tmp_path))
    os.makedirs(tmp_path / "cat")
    write_video(str(tmp_path / "cat" / "a.mp4"), (255, 0, 0))
    write_video(str(tmp_path / "b.mp4"), (0, 255, 0))
    with pytest.raises(ValueError, match="both videos .* and class sub-folders"):
        VideoFolderDataset(str(tmp_path))


def test_process_shards_split_each_epoch_into_equal_disjoint_parts(tmp_path):
    """Multi-host input: shard i of n reads every n-th video of the epoch's
    order (drawn alike by every process from the seed), as many steps each."""
    for i in range(7):
        write_video(str(tmp_path / f"v{i}.mp4"), (30 * i, 0, 0), num_frames=8)
    sampler = VideoClipSampler(num_frames=4, stride=1, crop_size=16, training=True, seed=0)
    whole = VideoFolderDataset(str(tmp_path), sampler=sampler, batch_size=1, seed=3, workers=1)
    shards = [VideoFolderDataset(str(tmp_path), sampler=sampler, batch_size=1, seed=3,
                                 workers=1, num_shards=3, shard_index=i) for i in range(3)]
    for epoch in (0, 1):
        for data in [whole] + shards:
            data.set_epoch(epoch)
        assert [len(s) for s in shards] == [2, 2, 2]
        parts = [[s.paths[j] for j in s._order] for s in shards]
        assert sum(parts, []) != [] and len(set(sum(parts, []))) == 6
        order = [whole.paths[j] for j in whole._order][:6]
        assert sorted(sum(parts, [])) == sorted(order)
        assert parts[1] == order[1::3]
    assert kl.distribution.process_shard() == (0, 1)
    with pytest.raises(ValueError, match=r"`shard_index` must be an int in \[0, 3\); received 3"):
        VideoFolderDataset(str(tmp_path), sampler=sampler, num_shards=3, shard_index=3)
