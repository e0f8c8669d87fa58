"""V-JEPA (1) converter: official `.pth.tar` checkpoints written here with the
publisher's keys, checked against a PyTorch re-implementation of the
official encoder's forward pass (facebookresearch/jepa
`vision_transformer.py`), position-table interpolation included."""

import numpy as np
import pytest
from testing_utils import to_numpy

import keras_layerlock as kl
from keras_layerlock.converters import CheckpointMismatchError

torch = pytest.importorskip("torch")
F = torch.nn.functional

MEAN = np.array([0.485, 0.456, 0.406], "float32")
STD = np.array([0.229, 0.224, 0.225], "float32")
WIDTH, HEADS, DEPTH, MLP = 48, 2, 2, 96
TUBELET, PATCH = 2, 4
NATIVE_FRAMES, NATIVE_SIZE = 4, 16


def official_table(dim, grid_size, grid_depth, uniform_power):
    """`get_3d_sincos_pos_embed` as the official code writes it."""
    def one_d(n, pos):
        omega = 1.0 / 10000 ** (np.arange(n // 2, dtype=float) / (n / 2.0))
        out = np.einsum("m,d->md", pos.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)

    grid_h, grid_d, grid_w = np.meshgrid(np.arange(grid_size, dtype=float),
                                         np.arange(grid_depth, dtype=float),
                                         np.arange(grid_size, dtype=float))
    if uniform_power:
        h = w = d = int(np.ceil(dim / 6) * 2)
    else:
        h, w, d = dim // 4, dim // 4, dim // 2
    table = np.concatenate([one_d(d, grid_d), one_d(h, grid_h), one_d(w, grid_w)], axis=1)
    return table[:, :dim]


def official_state(seed=0, uniform_power=True):
    generator = torch.Generator().manual_seed(seed)

    def rand(*shape, scale=0.1):
        return scale * torch.randn(*shape, generator=generator)

    grid = NATIVE_SIZE // PATCH
    state = {
        "patch_embed.proj.weight": rand(WIDTH, 3, TUBELET, PATCH, PATCH),
        "patch_embed.proj.bias": rand(WIDTH),
        "pos_embed": torch.from_numpy(official_table(
            WIDTH, grid, NATIVE_FRAMES // TUBELET, uniform_power)).float()[None],
        "norm.weight": 1 + rand(WIDTH), "norm.bias": rand(WIDTH),
    }
    for i in range(DEPTH):
        for name, shape in (("norm1", (WIDTH,)), ("norm2", (WIDTH,))):
            state[f"blocks.{i}.{name}.weight"] = 1 + rand(*shape)
            state[f"blocks.{i}.{name}.bias"] = rand(*shape)
        for name, (out, inp) in (("attn.qkv", (3 * WIDTH, WIDTH)), ("attn.proj", (WIDTH, WIDTH)),
                                 ("mlp.fc1", (MLP, WIDTH)), ("mlp.fc2", (WIDTH, MLP))):
            state[f"blocks.{i}.{name}.weight"] = rand(out, inp, scale=inp ** -0.5)
            state[f"blocks.{i}.{name}.bias"] = rand(out)
    return state


def official_forward(state, videos):
    """The official encoder: tokens, position table (trilinearly resized when
    the grid is not the native one), pre-norm blocks, final norm."""
    x = torch.from_numpy(np.transpose((videos - MEAN) / STD, (0, 4, 1, 2, 3)))
    _, _, frames, height, width = x.shape
    pos = state["pos_embed"]
    if (frames, height, width) != (NATIVE_FRAMES, NATIVE_SIZE, NATIVE_SIZE):
        nt, n = NATIVE_FRAMES // TUBELET, NATIVE_SIZE // PATCH
        scale = (frames // TUBELET / nt, height // PATCH / n, width // PATCH / n)
        pos = F.interpolate(pos.reshape(1, nt, n, n, WIDTH).permute(0, 4, 1, 2, 3),
                            scale_factor=scale, mode="trilinear")
        pos = pos.permute(0, 2, 3, 4, 1).reshape(1, -1, WIDTH)
    x = F.conv3d(x, state["patch_embed.proj.weight"], state["patch_embed.proj.bias"],
                 stride=(TUBELET, PATCH, PATCH)).flatten(2).transpose(1, 2) + pos
    outputs = [x]
    batch, tokens, _ = x.shape
    for i in range(DEPTH):
        def p(name):
            return state[f"blocks.{i}.{name}"]
        y = F.layer_norm(x, (WIDTH,), p("norm1.weight"), p("norm1.bias"), eps=1e-6)
        qkv = F.linear(y, p("attn.qkv.weight"), p("attn.qkv.bias"))
        q, k, v = qkv.reshape(batch, tokens, 3, HEADS, WIDTH // HEADS).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(batch, tokens, WIDTH)
        x = x + F.linear(y, p("attn.proj.weight"), p("attn.proj.bias"))
        y = F.layer_norm(x, (WIDTH,), p("norm2.weight"), p("norm2.bias"), eps=1e-6)
        y = F.linear(F.gelu(F.linear(y, p("mlp.fc1.weight"), p("mlp.fc1.bias"))),
                     p("mlp.fc2.weight"), p("mlp.fc2.bias"))
        x = x + y
        outputs.append(x)
    last = F.layer_norm(x, (WIDTH,), state["norm.weight"], state["norm.bias"], eps=1e-6)
    return [o.numpy() for o in outputs], last.numpy()


def write_checkpoint(path, state):
    wrapped = {"module.backbone." + k: v for k, v in state.items()}
    torch.save({"encoder": {k: v + 1.0 for k, v in wrapped.items()},
                "target_encoder": wrapped,
                "predictor": {"module.backbone.mask_tokens.0": torch.zeros(1, 1, 24)},
                "opt": {}, "epoch": 7}, path)


@pytest.mark.parametrize("frames, size", [(NATIVE_FRAMES, NATIVE_SIZE), (8, 24), (2, 8)],
                         ids=["native_grid", "larger_grid", "smaller_grid"])
def test_official_checkpoint_matches_the_official_forward_on_any_grid(tmp_path, frames, size):
    state = official_state()
    path = str(tmp_path / "vjepa.pth.tar")
    write_checkpoint(path, state)
    backbone = kl.converters.convert_checkpoint(path, source="vjepa", num_heads=HEADS)
    assert backbone.position_encoding == "sincos3d" and backbone.sincos_uniform_power
    assert backbone.sincos_grid_interpolation
    assert backbone.num_frames == NATIVE_FRAMES and backbone.image_size == (16, 16)
    assert backbone.image_num_frames == 16
    clips = np.random.default_rng(2).random((2, frames, size, size, 3)).astype("float32")
    hidden, last = official_forward(state, clips)
    features = [to_numpy(f) for f in backbone(clips)]
    for depth in range(DEPTH):
        np.testing.assert_allclose(features[depth], hidden[depth], atol=1e-4, rtol=1e-4,
                                   err_msg=f"depth {depth}")
    np.testing.assert_allclose(features[-1], last, atol=1e-4, rtol=1e-4)


def test_masked_tokens_get_the_interpolated_embedding_of_their_cell():
    """Training paths embed subsets of tokens: with the clip's grid they get
    the same values as the full grid."""
    backbone = kl.converters.convert_checkpoint(official_state(), source="vjepa",
                                                num_heads=HEADS)
    grid = (4, 6, 6)
    positions = kl.utils.grid_positions(grid)
    zeros = np.zeros((1, positions.shape[0], WIDTH), "float32")
    full = to_numpy(backbone.add_position_embedding(zeros, positions, grid))
    subset = np.array([0, 5, 17, 100, 143])
    part = to_numpy(backbone.add_position_embedding(
        zeros[:, subset], to_numpy(positions)[subset], grid))
    np.testing.assert_allclose(part, full[:, subset], atol=1e-6)
    native = to_numpy(backbone.add_position_embedding(
        zeros[:, :32], kl.utils.grid_positions((2, 4, 4))))
    np.testing.assert_allclose(native[0], official_table(WIDTH, 4, 2, True), atol=1e-5)


def test_the_original_channel_layout_is_recognised_too():
    backbone = kl.converters.convert_checkpoint(
        official_state(uniform_power=False), source="vjepa", num_heads=HEADS)
    assert not backbone.sincos_uniform_power


@pytest.mark.parametrize("damage, message", [
    ("table", r"'pos_embed' \(1, 32, 48\) is not V-JEPA's fixed 3-D sine-cosine table"),
    ("no_table", r"has no 'pos_embed'"),
    ("rename", r"missing keys: 'blocks\.1\.mlp\.fc2\.weight'.*unexpected keys: "
               r"'blocks\.1\.mlp\.fc3\.weight'"),
    ("extra", r"unexpected keys: 'blocks\.0\.attn\.q_norm\.weight'"),
    ("shape", r"mis-shaped key blocks\.0\.attn\.proj\.weight \(48, 40\)"),
])
def test_a_damaged_vjepa_checkpoint_is_refused_naming_the_key(damage, message):
    state = official_state()
    if damage == "table":
        state["pos_embed"] = state["pos_embed"] + 0.01 * torch.randn_like(state["pos_embed"])
    elif damage == "no_table":
        del state["pos_embed"]
    elif damage == "rename":
        state["blocks.1.mlp.fc3.weight"] = state.pop("blocks.1.mlp.fc2.weight")
    elif damage == "extra":
        state["blocks.0.attn.q_norm.weight"] = torch.ones(24)
    else:
        state["blocks.0.attn.proj.weight"] = torch.zeros(48, 40)
    with pytest.raises(CheckpointMismatchError, match=message):
        kl.converters.convert_checkpoint(state, source="vjepa", num_heads=HEADS)


def test_an_interpolating_backbone_round_trips_through_a_preset(tmp_path):
    backbone = kl.converters.convert_checkpoint(official_state(), source="vjepa",
                                                num_heads=HEADS)
    backbone.save_to_preset(str(tmp_path / "preset"))
    restored = kl.VideoViTBackbone.from_preset(str(tmp_path / "preset"))
    assert restored.sincos_grid_interpolation
    clips = np.random.default_rng(3).random((1, 8, 24, 24, 3)).astype("float32")
    np.testing.assert_allclose(to_numpy(restored(clips)[-1]), to_numpy(backbone(clips)[-1]),
                               atol=1e-6)


@pytest.mark.parametrize("method", ["mae_pixels", "mae_latent", "vjepa"])
def test_pretraining_on_another_grid_embeds_every_token_with_the_clip_grid(method, monkeypatch):
    """Continuing pretraining of an interpolating encoder on clips of another
    size: every position embedding the model adds (encoder, targets, queries)
    is the one of the clip's grid, not of the nominal grid."""
    backbone = kl.converters.convert_checkpoint(official_state(), source="vjepa",
                                                num_heads=HEADS)
    if method == "vjepa":
        model = kl.VJEPA(backbone, predictor="layerlock", predictor_num_layers=1, seed=1)
    else:
        model = kl.LayerLockMAE(backbone, decoder="layerlock", num_decoder_layers=1,
                                mask_ratio=0.5, seed=1)
        if method == "mae_latent":
            model.set_layerlock_state(num_frozen_layers=1, target_layer=1)
    grids = []
    layer = backbone.position_embedding
    original = layer.embedding

    def recording(positions, hidden_dim, grid_shape=None):
        grids.append(None if grid_shape is None else tuple(int(g) for g in grid_shape))
        return original(positions, hidden_dim, grid_shape)

    monkeypatch.setattr(layer, "embedding", recording)
    clips = np.random.default_rng(4).random((2, 8, 24, 24, 3)).astype("float32")
    model(clips, training=False)
    assert len(grids) >= 2 and set(grids) == {(4, 6, 6)}
