"""VideoClassifier: a backbone fine-tuned end to end with a pooled head."""

import copy

import keras
import numpy as np
import pytest
from testing_utils import keras_file_round_trip
from testing_utils import to_numpy

import keras_layerlock as kl


def make_classifier(**kwargs):
    keras.utils.set_random_seed(0)
    backbone = kl.VideoViTBackbone.from_preset("video_vit_micro")
    return kl.VideoClassifier(backbone, num_classes=3, **kwargs)


def data(n=24, seed=0):
    """Three classes told apart by brightness."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    videos = 0.25 * rng.random((n, 4, 16, 16, 3)) + 0.3 * labels[:, None, None, None, None]
    return videos.astype("float32"), labels.astype("int32")


def test_fine_tuning_learns_and_updates_the_backbone():
    classifier = make_classifier()
    classifier.compile(optimizer=keras.optimizers.AdamW(3e-3))
    videos, labels = data()
    before = to_numpy(classifier.backbone.patch_embedding.kernel).copy()
    history = classifier.fit(videos, labels, batch_size=8, epochs=8, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert history.history["accuracy"][-1] >= 0.9
    assert not np.allclose(to_numpy(classifier.backbone.patch_embedding.kernel), before)


def test_the_head_is_mean_pooling_then_norm_then_dense():
    classifier = make_classifier()
    videos, _ = data(4)
    tokens = to_numpy(classifier.backbone.forward_intermediates(videos, -1)[0])
    pooled = tokens.mean(axis=1)
    mean, var = pooled.mean(-1, keepdims=True), pooled.var(-1, keepdims=True)
    normed = (pooled - mean) / np.sqrt(var + classifier.layer_norm_epsilon)
    normed = normed * to_numpy(classifier.pooled_norm.gamma) + to_numpy(classifier.pooled_norm.beta)
    expected = normed @ to_numpy(classifier.head.kernel) + to_numpy(classifier.head.bias)
    np.testing.assert_allclose(to_numpy(classifier(videos)), expected, atol=1e-5)


def test_config_keras_file_and_preset_round_trips(tmp_path):
    classifier = make_classifier(use_pooled_norm=False, dropout=0.1)
    config = classifier.get_config()
    # keras-hub's `Task.from_config` deserialises the backbone in place.
    clone = kl.VideoClassifier.from_config(copy.deepcopy(config))
    assert clone.get_config() == config
    videos, _ = data(2)
    keras_file_round_trip(classifier, tmp_path, videos)
    classifier.save_to_preset(str(tmp_path / "preset"))
    restored = kl.VideoClassifier.from_preset(str(tmp_path / "preset"))
    assert restored.pooled_norm is None and restored.dropout == 0.1
    np.testing.assert_allclose(to_numpy(restored(videos)), to_numpy(classifier(videos)),
                               atol=1e-6)


def test_class_token_pooling_reads_the_class_token():
    backbone = kl.VideoViTBackbone(hidden_dim=32, num_layers=2, num_heads=2, intermediate_dim=64,
                                   patch_size=(2, 8, 8), num_frames=4, image_size=16,
                                   use_class_token=True)
    classifier = kl.VideoClassifier(backbone, 3, pooling="class_token", use_pooled_norm=False)
    videos, _ = data(2)
    _, class_tokens = backbone.forward_intermediates(videos, -1, return_class_token=True)
    expected = to_numpy(class_tokens[0]) @ to_numpy(classifier.head.kernel)
    np.testing.assert_allclose(to_numpy(classifier(videos)),
                               expected + to_numpy(classifier.head.bias), atol=1e-5)


@pytest.mark.parametrize("kwargs, message", [
    (dict(pooling="max"), r"`pooling` must be one of \('mean', 'class_token'\); received 'max'"),
    (dict(pooling="class_token"), r"needs a backbone built with `use_class_token=True`"),
    (dict(dropout=1.0), r"`dropout` must be in \[0, 1\); received 1.0"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_classifier(**kwargs)


def test_labels_out_of_range_are_refused_before_training_and_evaluation():
    classifier = make_classifier()
    classifier.compile()
    videos, labels = data(8)
    labels[3] = 7
    with pytest.raises(ValueError, match=r"outside \[0, 3\).*label 7 at index 3"):
        classifier.fit(videos, labels, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"outside \[0, 3\).*label 7 at index 3"):
        classifier.evaluate(videos, y=labels, verbose=0)
