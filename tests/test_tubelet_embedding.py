import keras
import numpy as np
import pytest
from testing_utils import config_round_trip
from testing_utils import keras_file_round_trip
from testing_utils import to_numpy

from keras_layerlock import TubeletEmbedding


def _conv3d_reference(videos, kernel, bias, patch):
    t, p, q = patch
    b, frames, h, w, c = videos.shape
    out = np.zeros((b, frames // t, h // p, w // q, kernel.shape[-1]))
    for i in range(frames // t):
        for j in range(h // p):
            for k in range(w // q):
                cube = videos[:, i * t : (i + 1) * t, j * p : (j + 1) * p, k * q : (k + 1) * q]
                out[:, i, j, k] = np.einsum("btpqc,tpqcd->bd", cube, kernel) + bias
    return out.reshape(b, -1, kernel.shape[-1])


@pytest.mark.parametrize("patch", [(2, 8, 8), (1, 4, 4), (4, 8, 16)])
def test_equals_strided_convolution(patch):
    layer = TubeletEmbedding(hidden_dim=12, patch_size=patch)
    videos = np.random.default_rng(0).random((2, 8, 16, 32, 3), dtype="float32")
    out = to_numpy(layer(videos))
    expected = _conv3d_reference(
        videos, to_numpy(layer.kernel), to_numpy(layer.bias), patch
    )
    np.testing.assert_allclose(out, expected, atol=1e-5)
    assert layer.kernel.shape == tuple(patch) + (3, 12)


def test_image_equals_repeated_frame_video():
    layer = TubeletEmbedding(hidden_dim=8, patch_size=(2, 8, 8))
    image = np.random.default_rng(1).random((2, 16, 16, 3), dtype="float32")
    video = np.repeat(image[:, None], 2, axis=1)
    np.testing.assert_allclose(
        to_numpy(layer(image)), to_numpy(layer(video)), atol=1e-6
    )


def test_bad_inputs():
    layer = TubeletEmbedding(hidden_dim=8, patch_size=(2, 8, 8))
    with pytest.raises(ValueError, match="not divisible by 8"):
        layer(np.zeros((1, 2, 12, 16, 3), "float32"))
    with pytest.raises(ValueError, match="channels"):
        layer(np.zeros((1, 2, 16, 16, 4), "float32"))
    with pytest.raises(ValueError, match="hidden_dim"):
        TubeletEmbedding(hidden_dim=0)
    with pytest.raises(ValueError, match="patch_size"):
        TubeletEmbedding(hidden_dim=4, patch_size=(2, 0, 8))


def test_serialization(tmp_path):
    layer = TubeletEmbedding(hidden_dim=8, patch_size=(2, 4, 8), use_bias=False)
    config_round_trip(layer)
    inputs = keras.Input((4, 16, 16, 3))
    model = keras.Model(inputs, layer(inputs))
    videos = np.random.default_rng(2).random((2, 4, 16, 16, 3), dtype="float32")
    keras_file_round_trip(model, tmp_path, videos)


def test_input_statistics_standardise_the_tubelets_before_the_projection():
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    plain = TubeletEmbedding(8, patch_size=(2, 4, 4))
    standardising = TubeletEmbedding(8, patch_size=(2, 4, 4), input_mean=mean, input_std=std)
    videos = np.random.default_rng(0).random((2, 4, 8, 8, 3)).astype("float32")
    plain.build(videos.shape)
    standardising.build(videos.shape)
    standardising.set_weights(plain.get_weights())
    expected = to_numpy(plain((videos - np.array(mean, "float32")) / np.array(std, "float32")))
    np.testing.assert_allclose(to_numpy(standardising(videos)), expected, rtol=1e-5, atol=1e-5)
    restored = TubeletEmbedding.from_config(standardising.get_config())
    assert restored.input_mean == mean and restored.input_std == std
    with pytest.raises(ValueError, match="one value per channel"):
        TubeletEmbedding(8, input_mean=(0.5, 0.5), input_std=(0.2, 0.2))
    with pytest.raises(ValueError, match="both"):
        TubeletEmbedding(8, input_mean=mean)
    with pytest.raises(ValueError, match="positive"):
        TubeletEmbedding(8, input_mean=mean, input_std=(0.2, 0.0, 0.2))
