import math

import keras
import numpy as np
import pytest
from testing_utils import config_round_trip
from testing_utils import grid_coords
from testing_utils import keras_file_round_trip
from testing_utils import to_numpy

from keras_layerlock import RotaryEmbedding3D
from keras_layerlock import TransformerBlock
from keras_layerlock.layers import transformer_block

GRID = (2, 2, 3)
N = 12


def _layer_norm(x, gamma, beta, eps):
    mu = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * gamma + beta


def _reference_block(block, x, key_mask=None):
    """NumPy pre-LN transformer block without position encoding."""
    w = {v.path.split("/", 1)[1]: to_numpy(v) for v in block.weights}
    heads, hd = block.num_heads, block.head_dim
    h = _layer_norm(x, w["attention_norm/gamma"], w["attention_norm/beta"], 1e-6)
    qkv = h @ w["qkv/kernel"] + w["qkv/bias"]
    qkv = qkv.reshape(x.shape[0], x.shape[1], 3, heads, hd)
    q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
    logits = np.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(hd)
    if key_mask is not None:
        logits = np.where(key_mask[:, None, None, :], logits, -np.inf)
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    att = np.einsum("bhqk,bkhd->bqhd", weights, v).reshape(x.shape)
    x = x + att @ w["attention_output/kernel"] + w["attention_output/bias"]
    h = _layer_norm(x, w["mlp_norm/gamma"], w["mlp_norm/beta"], 1e-6)
    h = h @ w["mlp_intermediate/kernel"] + w["mlp_intermediate/bias"]
    h = 0.5 * h * (1 + np.vectorize(math.erf)(h / np.sqrt(2)))
    return x + h @ w["mlp_output/kernel"] + w["mlp_output/bias"]


def _tokens(seed=0, width=16):
    return np.random.default_rng(seed).standard_normal((2, N, width)).astype("float32")


@pytest.mark.parametrize("fused", [True, False])
def test_matches_numpy_reference_with_and_without_mask(fused, monkeypatch):
    """Both attention paths: `keras.ops.dot_product_attention` (where the
    backend fuses it) and the block's own head-major composition."""
    monkeypatch.setattr(transformer_block, "has_fused_attention", lambda: fused)
    block = TransformerBlock(hidden_dim=16, num_heads=2, intermediate_dim=32)
    x = _tokens()
    np.testing.assert_allclose(
        to_numpy(block(x)), _reference_block(block, x.astype("float64")), atol=1e-4
    )
    mask = np.random.default_rng(1).random((2, N)) > 0.4
    mask[:, 0] = True
    np.testing.assert_allclose(
        to_numpy(block(x, attention_mask=mask)),
        _reference_block(block, x.astype("float64"), mask),
        atol=1e-4,
    )


def _shifted_logits(block, x, shift):
    return to_numpy(block.attention_logits(x, grid_coords(GRID) + np.int32(shift)))


@pytest.mark.parametrize("style", ["rope3d", "vjepa2"])
def test_qk_rope_logits_depend_only_on_coordinate_differences(style):
    rope = RotaryEmbedding3D(style=style, vjepa2_frequency_quirk=False)
    block = TransformerBlock(
        hidden_dim=48, num_heads=2, intermediate_dim=32,
        rotary_embedding=rope, rope_placement="qk",
    )
    x = _tokens(2, 48)
    base = _shifted_logits(block, x, 0)
    for shift in [(1, 0, 0), (0, 4, 0), (0, 0, 9), (3, 2, 5)]:
        np.testing.assert_allclose(_shifted_logits(block, x, shift), base, atol=1e-4)
    # Relative positions matter: swapping two tokens' coordinates changes them.
    pos = grid_coords(GRID)
    pos[[0, 7]] = pos[[7, 0]]
    assert np.abs(to_numpy(block.attention_logits(x, pos)) - base).max() > 1e-3


def test_post_norm_rope_rotates_features_before_projection():
    """LayerLock's placement: the qkv projection sees rotated features."""
    rope = RotaryEmbedding3D()
    block = TransformerBlock(
        hidden_dim=40, num_heads=2, intermediate_dim=32,
        rotary_embedding=rope, rope_placement="post_norm",
    )
    plain = TransformerBlock(hidden_dim=40, num_heads=2, intermediate_dim=32)
    x = _tokens(3, 40)
    pos = grid_coords(GRID)
    block.build(x.shape)
    plain.build(x.shape)
    plain.set_weights(block.get_weights())
    # Position (0, 0, 0) is the identity rotation: same output as no RoPE.
    zero = np.zeros_like(pos)
    np.testing.assert_allclose(
        to_numpy(block(x, zero)), to_numpy(plain(x)), atol=1e-5
    )
    assert np.abs(to_numpy(block(x, pos)) - to_numpy(plain(x))).max() > 1e-3


def test_bad_arguments():
    with pytest.raises(ValueError, match="multiple of `num_heads`"):
        TransformerBlock(hidden_dim=10, num_heads=3, intermediate_dim=8)
    with pytest.raises(ValueError, match="rope_placement"):
        TransformerBlock(16, 2, 8, rotary_embedding=RotaryEmbedding3D(), rope_placement="v")
    with pytest.raises(ValueError, match="qk"):
        TransformerBlock(
            16, 2, 8, rotary_embedding=RotaryEmbedding3D(style="vjepa2"),
            rope_placement="post_norm",
        )
    block = TransformerBlock(16, 2, 8, rotary_embedding=RotaryEmbedding3D())
    with pytest.raises(ValueError, match="needs `positions`"):
        block(_tokens())
    with pytest.raises(ValueError, match=r"\(batch, num_tokens, 16\)"):
        block(np.zeros((2, 16), "float32"), grid_coords(GRID))


def test_attention_dropout_only_in_training():
    block = TransformerBlock(16, 2, 32, attention_dropout=0.5)
    x = _tokens(4)
    np.testing.assert_allclose(
        to_numpy(block(x, training=False)), to_numpy(block(x)), atol=1e-6
    )
    assert np.abs(to_numpy(block(x, training=True)) - to_numpy(block(x))).max() > 1e-4


@pytest.mark.parametrize("placement", ["post_norm", "qk"])
def test_serialization(placement, tmp_path):
    block = TransformerBlock(
        hidden_dim=16, num_heads=2, intermediate_dim=24,
        activation="gelu_approximate", use_qkv_bias=False,
        rotary_embedding=RotaryEmbedding3D(proportions=(0.25, 0.25, 0.25)),
        rope_placement=placement,
    )
    config_round_trip(block)
    tokens = keras.Input((N, 16))
    positions = keras.Input((N, 3), dtype="int32")
    model = keras.Model([tokens, positions], block(tokens, positions))
    pos = np.broadcast_to(grid_coords(GRID), (2, N, 3)).copy()
    keras_file_round_trip(model, tmp_path, [_tokens(5), pos])

