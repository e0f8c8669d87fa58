"""Bad inputs get a clear error naming what was received, and nothing trains on them.

Each case here was accepted silently or failed with an error a user could
not act on before it was fixed (issue: "every bad input gets a clear error
or a counted skip").
"""

import numpy as np
import pytest

import keras_layerlock as kl


def micro_backbone():
    return kl.VideoViTBackbone.from_preset("video_vit_micro")


def float_videos(n=4, seed=0):
    return np.random.default_rng(seed).random((n, 4, 16, 16, 3), dtype=np.float32)


@pytest.mark.parametrize("kwargs", [
    {"num_steps_before_first_freeze": 2.5},
    {"num_steps_between_freezes": 1.9},
    {"num_layers_per_freeze": "1"},
    {"target_layers": "12"},
    {"target_layers": [1.7]},
    {"target_layers": [True]},
])
def test_schedule_refuses_non_integers_instead_of_truncating(kwargs):
    arguments = dict(num_steps_before_first_freeze=2, num_steps_between_freezes=1,
                     num_layers_per_freeze=1, target_layers=[1])
    arguments.update(kwargs)
    with pytest.raises(ValueError, match="received"):
        kl.LayerLockSchedule(**arguments)


@pytest.mark.parametrize("max_frozen_layers", [0, -2, 1.5])
def test_schedule_names_max_frozen_layers_when_it_is_wrong(max_frozen_layers):
    with pytest.raises(ValueError, match="`max_frozen_layers` must be an integer >= 1"):
        kl.LayerLockSchedule(2, 1, max_frozen_layers=max_frozen_layers)


@pytest.mark.parametrize("tolerance", [-0.01, 0.0, float("nan"), "0.01"])
def test_adaptive_start_refuses_a_tolerance_that_never_freezes(tolerance):
    schedule = kl.LayerLockSchedule(2, 1, target_layers=[1])
    with pytest.raises(ValueError, match="plateau_tolerance"):
        kl.LayerLockCallback(schedule, adaptive=True, plateau_tolerance=tolerance)


@pytest.mark.parametrize("feature_layer", [1.5, "1", True])
def test_readout_refuses_a_fractional_feature_layer(feature_layer):
    with pytest.raises(ValueError, match="`feature_layer` must be an integer"):
        kl.ReadoutClassifier(4, backbone=micro_backbone(), feature_layer=feature_layer)
    with pytest.raises(ValueError, match="`feature_layer` must be an integer"):
        kl.ReadoutClassifier(4, feature_layer=feature_layer, feature_dim=8, num_tokens=4)


@pytest.mark.parametrize("dtype", ["uint8", "int32"])
def test_integer_videos_are_refused_everywhere_they_enter(dtype):
    videos = (float_videos() * 255).astype(dtype)
    backbone = micro_backbone()
    with pytest.raises(ValueError, match=f"received dtype {dtype}"):
        backbone(videos)
    with pytest.raises(ValueError, match=f"received dtype {dtype}"):
        backbone.predict(videos, verbose=0)
    with pytest.raises(ValueError, match=f"received dtype {dtype}"):
        kl.evaluation.extract_features(backbone, videos, layer=1)
    mae = kl.LayerLockMAE(micro_backbone(), num_decoder_layers=1)
    mae.compile(optimizer="adamw")
    with pytest.raises(ValueError, match=f"received dtype {dtype}"):
        mae.fit(videos, batch_size=2, epochs=1, verbose=0)
    classifier = kl.ReadoutClassifier(4, backbone=backbone)
    with pytest.raises(ValueError, match=f"received dtype {dtype}"):
        classifier.adapt(videos)


def test_float_videos_that_are_unscaled_frames_are_refused():
    videos = np.round(float_videos() * 255)
    mae = kl.LayerLockMAE(micro_backbone(), num_decoder_layers=1)
    mae.compile(optimizer="adamw")
    with pytest.raises(ValueError, match="whole numbers up to 255"):
        mae.fit(videos, batch_size=2, epochs=1, verbose=0)


def test_a_non_finite_clip_is_named_before_training_touches_the_weights():
    videos = float_videos(6)
    videos[4, 1, 2, 3, 0] = np.nan
    videos[5, 0, 0, 0, 1] = np.inf
    mae = kl.LayerLockMAE(micro_backbone(), num_decoder_layers=1)
    mae.compile(optimizer="adamw")
    with pytest.raises(ValueError, match=r"2 of 6 clips \(indices 4, 5\)"):
        mae.fit(videos, batch_size=2, epochs=1, verbose=0)


@pytest.mark.parametrize("labels", [[0, 1, 7, 2], [0, -1, 1, 2], [0.5, 1, 2, 3]])
def test_out_of_range_labels_name_the_class_count(labels):
    backbone = micro_backbone()
    classifier = kl.ReadoutClassifier(4, backbone=backbone, feature_normalization=None)
    classifier.compile()
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        classifier.fit(float_videos(), np.asarray(labels), epochs=1, verbose=0)


@pytest.mark.parametrize("shape", [(4, 1, 16, 16), (4, 4, 8, 8), (4, 16, 16)])
def test_depth_targets_of_another_shape_are_refused_not_broadcast(shape):
    estimator = kl.ReadoutDepthEstimator((4, 16, 16), backbone=micro_backbone(),
                                         feature_normalization=None)
    estimator.compile()
    depth = np.ones(shape, "float32")
    with pytest.raises(ValueError, match=r"depth_shape=\(4, 16, 16\).*never broadcast"):
        estimator.fit(float_videos(), depth, batch_size=2, epochs=1, verbose=0)
    # Also when the targets arrive batch by batch, and in the loss and metric themselves.
    with pytest.raises(ValueError, match="never broadcast"):
        estimator.train_on_batch(float_videos(2), depth[:2])
    prediction = np.ones((4, 4, 16, 16), "float32")
    for loss in (kl.losses.MaskedDepthL2(), kl.losses.MaskedDepthAbsRel()):
        with pytest.raises(ValueError, match="never broadcast"):
            loss(depth, prediction)
    with pytest.raises(ValueError, match="never broadcast"):
        kl.metrics.AbsRel().update_state(depth, prediction)
