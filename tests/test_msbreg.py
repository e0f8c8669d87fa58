"""MSBReg and BYOL: K views, the EMA target, the Brownian direction, round
trips and a short fit."""

import os

import keras
import numpy as np
import pytest
from testing_utils import to_numpy

import keras_layerlock as kl


def images(n=16, seed=0):
    return np.random.default_rng(seed).random((n, 32, 32, 3), dtype="float32")


def small_cnn():
    return keras.Sequential([keras.Input((32, 32, 3)),
                             keras.layers.Conv2D(8, 3, strides=2, activation="relu"),
                             keras.layers.Conv2D(16, 3, strides=2, activation="relu")])


def make(cls=kl.MSBReg, backbone=None, **kwargs):
    keras.utils.set_random_seed(0)
    return cls(backbone or small_cnn(), projector_hidden_dim=32, projection_dim=16, seed=0,
               **kwargs)


def test_the_k_views_differ_from_each_other_and_stay_images():
    views = to_numpy(kl.SimCLRAugmentation(num_views=4, seed=0)(images(4)))
    assert views.shape == (4, 4, 32, 32, 3)
    assert views.min() >= 0.0 and views.max() <= 1.0
    for i in range(4):
        for j in range(i + 1, 4):
            assert np.abs(views[i] - views[j]).max() > 0.05


def test_the_ema_target_follows_the_formula_inside_fit():
    model = make(kl.BYOL, ema_momentum=0.9)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    kernel = lambda m: to_numpy(m.backbone.layers[0].kernel).copy()  # noqa: E731
    online = [kernel(model)]

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            online.append(kernel(self.model))

    model.fit(images(16), batch_size=8, epochs=1, verbose=0, shuffle=False, callbacks=[Record()])
    # Each step starts with target <- 0.9 target + 0.1 online; the target
    # starts as a copy: after two steps, 0.9 o0 + 0.1 o1.
    target = to_numpy(model.target_backbone.layers[0].kernel)
    np.testing.assert_allclose(target, 0.9 * online[0] + 0.1 * online[1], rtol=1e-5, atol=1e-7)
    assert np.abs(online[2] - online[0]).max() > 0


def test_the_brownian_direction_changes_every_draw_and_repeats_from_the_seed():
    first, second = make(), make()
    a = [to_numpy(first.brownian_direction()) for _ in range(3)]
    b = [to_numpy(second.brownian_direction()) for _ in range(3)]
    assert np.abs(a[0] - a[1]).max() > 0.1 and np.abs(a[1] - a[2]).max() > 0.1
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("normalization", ["batch", "layer"])
def test_a_short_fit_lowers_the_centroid_loss(normalization):
    model = make(num_views=4, brownian_weight=0.5, singular_value_weight=0.004,
                 head_normalization=normalization)
    model.compile(optimizer=kl.LARS(0.1))
    history = model.fit(images(32), batch_size=8, epochs=3, verbose=0).history
    assert history["centroid_loss"][-1] < history["centroid_loss"][0]
    assert {"brownian_loss", "singular_value_loss"} <= set(history)


def test_msbreg_on_the_librarys_vit_in_image_mode_and_keras_file_round_trip(tmp_path):
    model = make(backbone=kl.VideoViTBackbone.from_preset("video_vit_micro", image_size=32),
                 num_views=3)
    model.compile(optimizer=kl.LARS(0.05))
    model.fit(images(8), batch_size=4, epochs=1, verbose=0)
    path = os.path.join(str(tmp_path), "msbreg.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert type(restored) is kl.MSBReg and restored.get_config() == model.get_config()
    for a, b in zip(model.weights, restored.weights):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b), err_msg=a.path)


def test_byol_fixes_its_views_and_regularisers():
    assert make(kl.BYOL).num_views == 2
    with pytest.raises(ValueError, match="BYOL fixes `num_views`"):
        make(kl.BYOL, num_views=4)
    with pytest.raises(ValueError, match="num_views"):
        make(num_views=1)


def test_msbreg_on_keras_hubs_resnet_18_and_subclassed_models_after_it(tmp_path):
    """keras-hub's functional `ResNetBackbone` (ResNet-18's configuration,
    no weights) trains under MSBReg and round trips through a preset, and
    building it leaves the library's subclassed models working: Keras
    rewrites keras-hub's shared `Backbone` base into a functional class
    when a functional backbone is built."""
    import keras_hub

    resnet = kl.models.resnet_backbone(18, image_shape=(32, 32, 3))
    assert 11_150_000 < resnet.count_params() < 11_200_000  # ResNet-18 without its head
    model = make(backbone=resnet)
    model.compile(optimizer=kl.LARS(0.05))
    history = model.fit(images(8), batch_size=4, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][-1])
    preset = os.path.join(str(tmp_path), "preset")
    model.save_to_preset(preset)
    restored = kl.MSBReg.from_preset(preset)
    assert type(restored.backbone) is keras_hub.models.ResNetBackbone
    for a, b in zip(model.weights, restored.weights):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b), err_msg=a.path)
    # The library's subclassed backbone and task models still build and train.
    vit = kl.VideoViTBackbone.from_preset("video_vit_micro", image_size=32)
    assert not isinstance(vit, keras.src.models.functional.Functional)
    vit_model = make(backbone=vit)
    vit_model.compile(optimizer=kl.LARS(0.05))
    assert np.isfinite(vit_model.fit(images(8), batch_size=4, epochs=1,
                                     verbose=0).history["loss"][-1])


def test_tfds_images_feed_msbreg_through_its_in_step_views():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=12):
        train = kl.data.load_tfds_images("cifar10", "train", image_size=24, batch_size=4,
                                         with_labels=False)
        labelled = kl.data.load_tfds_images("cifar10", "test", image_size=16, batch_size=5)
        images_24 = np.asarray(next(iter(train)))
        images_16, labels = (np.asarray(t) for t in next(iter(labelled)))
        model = make(backbone=keras.Sequential([keras.Input((24, 24, 3)),
                                                keras.layers.Conv2D(8, 3, strides=2)]))
        model.compile(optimizer=kl.LARS(0.05))
        history = model.fit(train, epochs=1, verbose=0).history
    assert images_24.shape == (4, 24, 24, 3) and images_24.dtype == np.float32
    assert 0.0 <= images_24.min() and images_24.max() <= 1.0 and images_24.max() > 0.5
    assert images_16.shape == (5, 16, 16, 3) and labels.shape == (5,)
    assert labels.min() >= 0 and labels.max() < 10
    assert np.isfinite(history["centroid_loss"][-1])
    with pytest.raises(ValueError, match="image_key"):
        kl.data.load_tfds_images("not_an_image_set", "train", image_size=8)
    with pytest.raises(ValueError, match="image_size"):
        kl.data.load_tfds_images("cifar10", "train", image_size=8.5)


def test_collapse_monitor_measures_the_online_projections():
    model = make(kl.BYOL, head_normalization="layer")
    model.compile(optimizer=kl.LARS(0.05))
    probe = images(8, seed=1)
    monitor = kl.CollapseMonitor(probe, verbose=0)
    history = model.fit(images(16), batch_size=8, epochs=2, verbose=0,
                        callbacks=[monitor]).history
    expected = kl.feature_collapse_statistics(to_numpy(model.project(probe)))
    assert len(history["feature_std"]) == 2
    np.testing.assert_allclose(history["feature_std"][-1],
                               float(to_numpy(expected["feature_std"])), rtol=1e-5)
    assert monitor.features(model).shape == (8, 16)


def test_resnet_configurations_have_the_papers_sizes():
    resnet_50 = kl.models.resnet_backbone(50, image_shape=(32, 32, 3))
    assert 23_450_000 < resnet_50.count_params() < 23_600_000  # ResNet-50 without its head
    assert tuple(resnet_50(np.zeros((1, 32, 32, 3), "float32")).shape) == (1, 1, 1, 2048)
    with pytest.raises(ValueError, match="depth"):
        kl.models.resnet_backbone(20)
