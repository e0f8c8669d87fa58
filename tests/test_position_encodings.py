import keras
import numpy as np
import pytest
from testing_utils import config_round_trip
from testing_utils import grid_coords
from testing_utils import keras_file_round_trip
from testing_utils import to_numpy

from keras_layerlock import LearnedPositionEmbedding3D
from keras_layerlock import RotaryEmbedding3D
from keras_layerlock import SinCosPositionEmbedding3D

GRID = (2, 3, 4)


def _random(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


ROPES = {
    "rope3d": dict(style="rope3d", proportions=(0.1, 0.25, 0.25)),
    "vjepa2_fixed": dict(style="vjepa2", vjepa2_frequency_quirk=False),
}


@pytest.mark.parametrize("name", sorted(ROPES))
def test_rotation_preserves_norms(name):
    rope = RotaryEmbedding3D(**ROPES[name])
    x = _random((2, 24, 40))
    y = to_numpy(rope(x, grid_coords(GRID) * 7))
    np.testing.assert_allclose(
        np.linalg.norm(y, axis=-1), np.linalg.norm(x, axis=-1), rtol=1e-5
    )


def _logits_after_shift(rope, shift, x, k):
    pos = grid_coords(GRID) + np.asarray(shift, "int32")
    q = to_numpy(rope(x, pos))
    kk = to_numpy(rope(k, pos))
    return np.einsum("bnc,bmc->bnm", q, kk)


@pytest.mark.parametrize("name", sorted(ROPES))
def test_inner_products_depend_only_on_coordinate_differences(name):
    rope = RotaryEmbedding3D(**ROPES[name])
    x, k = _random((2, 24, 48), 1), _random((2, 24, 48), 2)
    base = _logits_after_shift(rope, (0, 0, 0), x, k)
    for shift in [(3, 0, 0), (0, 5, 0), (0, 0, 11), (2, 7, 1)]:
        np.testing.assert_allclose(
            _logits_after_shift(rope, shift, x, k), base, atol=1e-4
        )


def test_each_axis_moves_the_logits():
    """The rotated parts really carry the positions (the test above can fail)."""
    rope = RotaryEmbedding3D(style="rope3d")
    x = _random((1, 24, 40), 3)
    pos = grid_coords(GRID)
    base = to_numpy(rope(x, pos))
    dims = rope.axis_dims(40)
    start = 0
    for axis, n in enumerate(dims):
        moved = pos.copy()
        moved[:, axis] += 1
        out = to_numpy(rope(x, moved))
        changed = np.abs(out - base).max(axis=(0, 1)) > 1e-6
        expected = np.zeros(40, bool)
        expected[start : start + n] = True
        np.testing.assert_array_equal(changed, expected)
        start += n


@pytest.mark.parametrize(
    "dim,proportions,expected_dims,expected_rest",
    [
        (40, (0.1, 0.25, 0.25), (4, 10, 10), 16),
        (160, (0.1, 0.25, 0.25), (16, 40, 40), 64),
        (100, (0.2, 0.2, 0.2), (20, 20, 20), 40),
        (64, (0.0, 0.5, 0.5), (0, 32, 32), 0),
    ],
)
def test_unrotated_share_is_exactly_what_was_asked(
    dim, proportions, expected_dims, expected_rest
):
    rope = RotaryEmbedding3D(proportions=proportions)
    assert rope.axis_dims(dim) == expected_dims
    assert rope.num_unrotated(dim) == expected_rest
    x = _random((1, 24, dim), 4)
    y = to_numpy(rope(x, grid_coords(GRID) + 1))
    if expected_rest:
        np.testing.assert_array_equal(y[..., -expected_rest:], x[..., -expected_rest:])
    assert np.abs(y[..., : dim - expected_rest] - x[..., : dim - expected_rest]).max() > 1e-3


def _vjepa2_reference(x, pos):
    """NumPy transcription of V-JEPA 2's `rotate_queries_or_keys` per axis."""
    head_dim = x.shape[-1]
    d = 2 * ((head_dim // 3) // 2)
    out, s = [], 0
    for axis in range(3):
        part = x[..., s : s + d]
        omega = 1.0 / 10000 ** (np.arange(d // 2) / (d / 2.0))
        freq = pos[:, axis, None] * omega  # (N, d/2)
        sin = np.tile(np.sin(freq), 2)  # `repeat(1, 1, 1, 2)`: tiling
        cos = np.tile(np.cos(freq), 2)
        y = part.reshape(part.shape[:-1] + (d // 2, 2))
        y = np.stack([-y[..., 1], y[..., 0]], -1).reshape(part.shape)
        out.append(part * cos[:, None] + y * sin[:, None])
        s += d
    out.append(x[..., s:])
    return np.concatenate(out, -1)


def test_vjepa2_quirk_matches_reference_formula():
    rope = RotaryEmbedding3D(style="vjepa2")
    assert rope.axis_dims(64) == (20, 20, 20)
    x = _random((2, 24, 4, 64), 5)  # (batch, tokens, heads, head_dim)
    pos = grid_coords(GRID)
    np.testing.assert_allclose(
        to_numpy(rope(x, pos)), _vjepa2_reference(x, pos.astype("float64")),
        atol=2e-5,
    )
    fixed = RotaryEmbedding3D(style="vjepa2", vjepa2_frequency_quirk=False)
    assert np.abs(to_numpy(fixed(x, pos)) - to_numpy(rope(x, pos))).max() > 1e-3


def test_rope_bad_arguments():
    with pytest.raises(ValueError, match="style"):
        RotaryEmbedding3D(style="alibi")
    with pytest.raises(ValueError, match="proportions"):
        RotaryEmbedding3D(proportions=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="positions must have shape"):
        RotaryEmbedding3D()(_random((1, 4, 8)), np.zeros((4, 2), "int32"))


def test_sincos_matches_vjepa_layout():
    layer = SinCosPositionEmbedding3D()
    pos = grid_coords(GRID)
    emb = to_numpy(layer.embedding(pos, 32))[0]

    def one_d(n, p):
        omega = 1.0 / 10000 ** (np.arange(n // 2) / (n / 2.0))
        out = p[:, None] * omega
        return np.concatenate([np.sin(out), np.cos(out)], -1)

    expected = np.concatenate(
        [one_d(16, pos[:, 0]), one_d(8, pos[:, 1]), one_d(8, pos[:, 2])], -1
    )
    np.testing.assert_allclose(emb, expected, atol=1e-5)
    x = _random((2, 24, 32))
    np.testing.assert_allclose(to_numpy(layer(x, pos)), x + expected, atol=1e-5)


def test_learned_embedding_looks_up_own_coordinates():
    layer = LearnedPositionEmbedding3D(grid_shape=GRID)
    x = np.zeros((2, 24, 8), "float32")
    full = to_numpy(layer(x, grid_coords(GRID)))[0]
    table = to_numpy(layer.embeddings)
    np.testing.assert_allclose(full, table)
    keep = np.array([[5, 0, 17], [23, 4, 6]])
    subset = to_numpy(layer(x[:, :3], grid_coords(GRID)[keep]))
    np.testing.assert_allclose(subset, table[keep])


@pytest.mark.parametrize(
    "layer",
    [
        RotaryEmbedding3D(proportions=(0.2, 0.2, 0.2), max_wavelength=100.0),
        RotaryEmbedding3D(style="vjepa2", vjepa2_frequency_quirk=False),
        SinCosPositionEmbedding3D(uniform_power=True),
        LearnedPositionEmbedding3D(grid_shape=GRID),
    ],
    ids=["rope3d", "vjepa2", "sincos", "learned"],
)
def test_position_layer_serialization(layer, tmp_path):
    config_round_trip(layer)
    tokens = keras.Input((24, 48))
    positions = keras.Input((24, 3), dtype="int32")
    model = keras.Model([tokens, positions], layer(tokens, positions))
    pos = np.broadcast_to(grid_coords(GRID), (2, 24, 3)).copy()
    keras_file_round_trip(model, tmp_path, [_random((2, 24, 48)), pos])
