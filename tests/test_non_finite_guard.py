"""A NaN or Inf met during `fit` stops training at that step with the weights
of the step before (issue: "every bad input gets a clear error or a counted
skip"; before, one NaN clip in a dataset turned every weight non-finite)."""

import keras
import numpy as np
import pytest

import keras_layerlock as kl


class Batches(keras.utils.PyDataset):
    """Fixed batches; `videos` and optional `labels` are lists of arrays."""

    def __init__(self, videos, labels=None):
        super().__init__()
        self.videos, self.labels = videos, labels

    def __len__(self):
        return len(self.videos)

    def __getitem__(self, index):
        if self.labels is None:
            return self.videos[index]
        return self.videos[index], self.labels[index]


class WeightRecorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.after_batch = {}

    def on_train_batch_end(self, batch, logs=None):
        self.after_batch[batch] = [np.array(keras.ops.convert_to_numpy(v.value))
                                   for v in self.model.variables]


def batches_with_nan_in(bad_batch, num_batches=4):
    rng = np.random.default_rng(0)
    videos = [rng.random((2, 4, 16, 16, 3), dtype=np.float32) for _ in range(num_batches)]
    videos[bad_batch][1, 2, 3, 4, 0] = np.nan
    return videos


def tiny_mae():
    mae = kl.LayerLockMAE(kl.VideoViTBackbone.from_preset("video_vit_micro"), num_decoder_layers=1)
    mae.compile(optimizer=keras.optimizers.AdamW(1e-3))
    return mae


def test_a_nan_batch_stops_fit_at_its_step_with_the_weights_of_the_step_before():
    mae = tiny_mae()
    recorder = WeightRecorder()
    with pytest.raises(kl.NonFiniteTrainingError, match=r"epoch 1, batch 3 \(global step 3\)") as error:
        mae.fit(Batches(batches_with_nan_in(2)), epochs=1, verbose=0, shuffle=False,
                callbacks=[recorder, kl.NonFiniteGuard(snapshot_every_n_steps=1)])
    assert "global step 2 were restored" in str(error.value)
    restored = [keras.ops.convert_to_numpy(v.value) for v in mae.variables]
    for before, after in zip(recorder.after_batch[1], restored):
        np.testing.assert_array_equal(after, before)
    assert all(np.isfinite(w).all() for w in restored if np.issubdtype(w.dtype, np.floating))
    assert int(keras.ops.convert_to_numpy(mae.optimizer.iterations)) == 2


def test_weights_that_turn_non_finite_under_a_finite_loss_are_caught_too():
    class Poison(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                kernel = self.model.backbone.variables[0]
                kernel.assign(keras.ops.full_like(kernel.value, float("inf")))

    mae = tiny_mae()
    rng = np.random.default_rng(1)
    videos = [rng.random((2, 4, 16, 16, 3), dtype=np.float32) for _ in range(4)]
    with pytest.raises(kl.NonFiniteTrainingError, match=r"batch 2 .*1 variables became non-finite"):
        mae.fit(Batches(videos), epochs=1, verbose=0, shuffle=False, callbacks=[Poison(), kl.NonFiniteGuard(1)])
    assert np.isfinite(keras.ops.convert_to_numpy(mae.backbone.variables[0].value)).all()


def test_without_snapshots_the_guard_still_stops_and_says_nothing_was_restored():
    mae = tiny_mae()
    with pytest.raises(kl.NonFiniteTrainingError, match="No snapshot was kept"):
        mae.fit(Batches(batches_with_nan_in(1)), epochs=1, verbose=0, shuffle=False,
                callbacks=[kl.NonFiniteGuard(snapshot_every_n_steps=0)])


def test_the_default_guard_of_fit_restores_its_last_snapshot():
    mae = tiny_mae()
    before = [np.array(keras.ops.convert_to_numpy(v.value)) for v in mae.variables]
    with pytest.raises(kl.NonFiniteTrainingError, match="global step 0 were restored"):
        mae.fit(Batches(batches_with_nan_in(2)), epochs=1, verbose=0, shuffle=False)
    for a, b in zip(before, mae.variables):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(b.value), a)


@pytest.mark.parametrize("every", [-1, 1.5, True, "2"])
def test_the_guard_refuses_a_snapshot_interval_that_is_not_a_count(every):
    with pytest.raises(ValueError, match="snapshot_every_n_steps"):
        kl.NonFiniteGuard(snapshot_every_n_steps=every)


@pytest.mark.parametrize("bad_label", [7, -1])
def test_dataset_labels_outside_the_class_range_stop_the_readout_at_their_step(bad_label):
    rng = np.random.default_rng(2)
    videos = [rng.random((2, 4, 16, 16, 3), dtype=np.float32) for _ in range(3)]
    labels = [np.array([0, 1], "int32"), np.array([2, bad_label], "int32"), np.array([3, 0], "int32")]
    classifier = kl.ReadoutClassifier(4, backbone=kl.VideoViTBackbone.from_preset("video_vit_micro"),
                                      feature_normalization=None)
    classifier.compile()
    with pytest.raises(kl.NonFiniteTrainingError, match=r"batch 2 .*labels outside"):
        classifier.fit(Batches(videos, labels), epochs=1, verbose=0, shuffle=False)
    for weight in classifier.trainable_variables:
        assert np.isfinite(keras.ops.convert_to_numpy(weight.value)).all()


def test_in_range_dataset_labels_train_as_before():
    rng = np.random.default_rng(3)
    videos = [rng.random((2, 4, 16, 16, 3), dtype=np.float32) for _ in range(2)]
    labels = [np.array([0, 1], "int32"), np.array([2, 3], "int32")]
    classifier = kl.ReadoutClassifier(4, backbone=kl.VideoViTBackbone.from_preset("video_vit_micro"),
                                      feature_normalization=None)
    classifier.compile()
    history = classifier.fit(Batches(videos, labels), epochs=1, verbose=0, shuffle=False)
    assert np.isfinite(history.history["loss"][0])
