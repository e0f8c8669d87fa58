"""A run killed and resumed with `BackupAndRestore` on the library's own
loaders repeats the uninterrupted run (issue: "resume is exact with the
library's own loaders"; before, each epoch's shuffle order was lost)."""

import keras
import numpy as np
import pytest
from testing_utils import Interrupt
from testing_utils import KillAfter

import keras_layerlock as kl
from keras_layerlock.data import load_procedural_task

EPOCHS = 3


class BatchLosses(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.losses = []

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(float(logs["loss"]))


def procedural_train(format="py"):
    return load_procedural_task("motion", splits="train", num_examples=12, batch_size=4,
                                num_frames=4, image_size=16, cache_dir=None, format=format,
                                shuffle_seed=5, verbose=False)


def mae_fit(backup_dir, extra_callbacks=(), format="py"):
    keras.utils.set_random_seed(3)
    backbone = kl.VideoViTBackbone(hidden_dim=32, num_layers=2, num_heads=2, intermediate_dim=64,
                                   patch_size=(2, 8, 8), num_frames=4, image_size=16)
    model = kl.LayerLockMAE(backbone, num_decoder_layers=1, seed=1)
    model.compile(keras.optimizers.AdamW(2e-3))
    train = procedural_train(format)  # labels are ignored
    losses = BatchLosses()
    callbacks = [keras.callbacks.BackupAndRestore(backup_dir, delete_checkpoint=False), losses]
    model.fit(train, epochs=EPOCHS, verbose=0, callbacks=callbacks + list(extra_callbacks))
    return model, losses.losses


def test_each_epoch_order_is_a_function_of_seed_and_epoch_alone():
    first, second = procedural_train(), procedural_train()
    orders = []
    for _ in range(3):
        orders.append(first._order.copy())
        first.on_epoch_end()
    assert len({tuple(o) for o in orders}) == 3  # reshuffled every epoch
    second.set_epoch(2)
    np.testing.assert_array_equal(second._order, orders[2])
    np.testing.assert_array_equal(second[1][0], procedural_train_at_epoch(2)[1][0])
    # The tf.data form plays the same batches, epoch after epoch.
    tf_form = procedural_train("tf")
    for epoch in range(3):
        py_form = procedural_train_at_epoch(epoch)
        for index, (clips, labels) in enumerate(tf_form):
            np.testing.assert_array_equal(np.asarray(labels), py_form[index][1])
            np.testing.assert_allclose(np.asarray(clips), py_form[index][0])


def procedural_train_at_epoch(epoch):
    data = procedural_train()
    for _ in range(epoch):
        data.on_epoch_end()
    return data


@pytest.mark.parametrize("format", ["py", "tf"])
def test_a_killed_and_resumed_run_on_a_procedural_loader_repeats_the_uninterrupted_one(
        tmp_path, format):
    reference, reference_losses = mae_fit(str(tmp_path / "reference"), format=format)
    backup = str(tmp_path / "resumed")
    with pytest.raises(Interrupt):
        # 3 batches per epoch: killed in epoch 2.
        mae_fit(backup, extra_callbacks=[KillAfter(5)], format=format)
    resumed, resumed_losses = mae_fit(backup, format=format)
    # The resumed fit restarts epoch 2 from the end of epoch 1.
    np.testing.assert_allclose(resumed_losses, reference_losses[3:], rtol=1e-5)
    for a, b in zip(resumed.weights, reference.weights):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(a.value),
                                   keras.ops.convert_to_numpy(b.value), atol=1e-5, err_msg=a.path)


def test_non_finite_float_clips_are_skipped_and_counted():
    rng = np.random.default_rng(0)
    videos = rng.random((6, 4, 16, 16, 3), dtype=np.float32)
    videos[1, 0, 0, 0, 0] = np.nan
    videos[4, 3, 2, 1, 2] = -np.inf
    with pytest.warns(UserWarning, match=r"Skipping 2 of 6 clips .*indices 1, 4"):
        data = kl.data.ArrayClipDataset(videos, np.arange(6), batch_size=4, shuffle=False)
    assert data.statistics == {"clips": 6, "kept": 4, "skipped": 2, "skipped_indices": [1, 4]}
    assert len(data) == 1
    clips, labels = data[0]
    assert sorted(labels.tolist()) == [0, 2, 3, 5]
    assert np.isfinite(clips).all()


@pytest.mark.parametrize("make", [
    lambda v: v.astype("float32") * 255.0,  # 0-255 frames cast without scaling
    lambda v: (v * 255).astype("int32"),
])
def test_array_clips_that_are_not_float_frames_in_0_1_are_refused(make):
    videos = np.random.default_rng(1).random((4, 4, 16, 16, 3), dtype=np.float32)
    with pytest.raises(ValueError, match=r"\[0, 1\]|whole numbers"):
        kl.data.ArrayClipDataset(np.round(make(videos)), np.arange(4), batch_size=2)
