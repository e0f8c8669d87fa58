import numpy as np
import pytest
from testing_utils import to_numpy

from keras_layerlock.utils import grid_positions
from keras_layerlock.utils import patchify
from keras_layerlock.utils import unpatchify
from keras_layerlock.utils import video_grid_shape


@pytest.mark.parametrize("patch", [(2, 8, 8), (1, 4, 8), (4, 16, 16), (2, 16, 8)])
def test_patchify_round_trip_and_order(patch):
    videos = np.random.default_rng(0).random((2, 8, 32, 32, 3), dtype="float32")
    patches = to_numpy(patchify(videos, patch))
    grid = (8 // patch[0], 32 // patch[1], 32 // patch[2])
    assert patches.shape == (2, np.prod(grid), np.prod(patch) * 3)
    np.testing.assert_array_equal(to_numpy(unpatchify(patches, grid, patch)), videos)
    # Token n holds the tubelet at grid cell n in row-major (t, h, w) order.
    t, h, w = to_numpy(grid_positions(grid))[5]
    cell = videos[
        1,
        t * patch[0] : (t + 1) * patch[0],
        h * patch[1] : (h + 1) * patch[1],
        w * patch[2] : (w + 1) * patch[2],
    ]
    np.testing.assert_array_equal(patches[1, 5], cell.reshape(-1))


@pytest.mark.parametrize(
    "shape,message",
    [
        ((2, 16, 16), "rank 3"),
        ((2, 1, 4, 16, 16, 3), "rank 6"),
        ((2, 4, 16, 16, 1), "Expected 3 channels.*received 1"),
        ((2, 3, 16, 16, 3), r"frames=3 is not divisible by 2"),
        ((2, 4, 15, 16, 3), r"height=15 is not divisible by 8"),
        ((2, 4, 16, 20, 3), r"width=20 is not divisible by 8"),
        ((0, 4, 16, 16, 3), "empty batch"),
        ((2, None, 16, 16, 3), "static size"),
    ],
)
def test_bad_shapes_raise_clear_errors(shape, message):
    with pytest.raises(ValueError, match=message) as info:
        video_grid_shape(shape, (2, 8, 8))
    # The message names what was received.
    assert str(shape) in str(info.value)


def test_images_are_one_frame_videos():
    assert video_grid_shape((3, 16, 16, 3), (2, 8, 8)) == (1, 2, 2)
    assert video_grid_shape((3, 1, 16, 16, 3), (2, 8, 8)) == (1, 2, 2)
    image = np.random.default_rng(1).random((1, 16, 16, 3), dtype="float32")
    patches = to_numpy(patchify(image, (2, 8, 8)))
    # Tiled: both frames of each tubelet are the image.
    first = patches[0, 0].reshape(2, 8, 8, 3)
    np.testing.assert_array_equal(first[0], first[1])
    np.testing.assert_array_equal(first[0], image[0, :8, :8])
