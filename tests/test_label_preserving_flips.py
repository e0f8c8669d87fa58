import numpy as np
import pytest

from keras_layerlock.data import MOTION_CLASSES
from keras_layerlock.data import ProceduralVideoSuite
from keras_layerlock.data.procedural.label_preserving_flips import LabelPreservingFlips
from keras_layerlock.data.procedural.label_preserving_flips import flip_clip

ACTOR = 2  # instance id of the labelled object


def _shown_motion(instances, depth):
    """The translation the actor's mask shows, or None where unclear."""
    mask = instances == ACTOR
    area = mask.sum((1, 2))
    if area[0] < 30 or area[-1] < 30:
        return None
    rows, cols = np.indices(mask.shape[1:])
    cx = (mask * cols).sum((1, 2)) / area
    cy = (mask * rows).sum((1, 2)) / area
    d = np.array([np.median(f[m]) for f, m in zip(depth, mask)])
    if cx[-1] < cx[0] - 3:
        return "move_left"
    if cx[-1] > cx[0] + 3:
        return "move_right"
    if cy[-1] < cy[0] - 3:
        return "move_up"
    if cy[-1] > cy[0] + 3:
        return "move_down"
    if d[-1] < d[0] - 1:
        return "approach"
    if d[-1] > d[0] + 1:
        return "recede"
    return None


@pytest.mark.parametrize("horizontal,reverse", [(True, False), (False, True), (True, True)])
def test_a_flipped_clip_shows_the_motion_of_its_new_label(horizontal, reverse):
    suite = ProceduralVideoSuite(num_frames=8, image_size=48)
    checked = set()
    for i in range(60):
        clip = suite.generate("train", i)
        name = MOTION_CLASSES[clip["motion"]]
        if name.startswith("rotate") or _shown_motion(clip["instances"], clip["depth"]) != name:
            continue
        video, label = flip_clip(clip["video"], clip["motion"], "motion", horizontal, reverse)
        # Instances and depth are (T, H, W) maps, flipped like a depth target.
        _, instances = flip_clip(clip["video"], clip["instances"], "depth", horizontal, reverse)
        _, depth = flip_clip(clip["video"], clip["depth"], "depth", horizontal, reverse)
        assert _shown_motion(instances, depth) == MOTION_CLASSES[label], (i, name)
        checked.add(name)
    assert len(checked) >= 5


def test_flips_are_involutions_and_keep_appearance():
    clip = ProceduralVideoSuite(num_frames=8, image_size=32).generate("train", 3)
    for horizontal, reverse in ((True, False), (False, True), (True, True)):
        once = flip_clip(clip["video"], clip["motion"], "motion", horizontal, reverse)
        twice = flip_clip(*once, "motion", horizontal, reverse)
        np.testing.assert_array_equal(twice[0], clip["video"])
        assert twice[1] == clip["motion"]
        assert not np.array_equal(once[0], clip["video"])
        assert flip_clip(clip["video"], clip["appearance"], "appearance",
                         horizontal, reverse)[1] == clip["appearance"]
    for name in MOTION_CLASSES:
        label = MOTION_CLASSES.index(name)
        mirrored = MOTION_CLASSES[flip_clip(clip["video"], label, "motion", True)[1]]
        reversed_ = MOTION_CLASSES[flip_clip(clip["video"], label, "motion", reverse=True)[1]]
        assert mirrored == {"move_left": "move_right", "move_right": "move_left",
                            "rotate_clockwise": "rotate_counterclockwise",
                            "rotate_counterclockwise": "rotate_clockwise"}.get(name, name)
        assert reversed_ != name


def test_dataset_batches_are_reproducible_and_change_every_epoch():
    rng = np.random.default_rng(0)
    videos = rng.random((10, 4, 8, 8, 3)).astype("float32")
    labels = rng.integers(0, 8, 10)
    a = LabelPreservingFlips(videos, labels, "motion", batch_size=4, seed=1)
    b = LabelPreservingFlips(videos, labels, "motion", batch_size=4, seed=1)
    assert len(a) == 2
    x, y = a[0]
    assert x.shape == (4, 4, 8, 8, 3) and y.shape == (4,)
    np.testing.assert_array_equal(x, b[0][0])
    first = [a[i][0] for i in range(len(a))]
    a.on_epoch_end()
    assert not all(np.array_equal(f, a[i][0]) for i, f in enumerate(first))
    # Every batch entry is one of the four variants of a training clip.
    for clip, label in zip(*a[0]):
        variants = [flip_clip(v, t, "motion", h, r) for v, t in zip(videos, labels)
                    for h in (False, True) for r in (False, True)]
        assert any(np.array_equal(clip, v) and label == t for v, t in variants)


def test_bad_inputs_say_what_was_received():
    video = np.zeros((4, 8, 8, 3), "float32")
    with pytest.raises(ValueError, match="received 'colour'"):
        flip_clip(video, 0, "colour")
    with pytest.raises(ValueError, match=r"received shape \(8, 8, 3\)"):
        flip_clip(video[0], 0, "motion")
    with pytest.raises(ValueError, match=r"\(4, 8, 8\)"):
        flip_clip(video, np.zeros((4, 8, 9)), "depth")
    with pytest.raises(ValueError, match="3 targets"):
        LabelPreservingFlips(np.zeros((4, 4, 8, 8, 3)), np.zeros(3), "motion", batch_size=2)
    with pytest.raises(ValueError, match="received 8"):
        LabelPreservingFlips(np.zeros((4, 4, 8, 8, 3)), np.zeros(4), "motion", batch_size=8)
