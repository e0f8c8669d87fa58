"""4DS converter: `.npz` checkpoints written here with the Flax parameter paths
of google-deepmind/representations4d, checked against a NumPy
re-implementation of its forward pass (kauldron's pre-norm blocks, `(D, H,
d)` attention kernels, tanh GELU) and of its list of features."""

import math

import numpy as np
import pytest
from testing_utils import to_numpy

import keras_layerlock as kl
from keras_layerlock.converters import CheckpointMismatchError

WIDTH, HEADS, DEPTH, MLP = 48, 3, 3, 80
PATCH = (2, 4, 4)
GRID = (2, 4, 4)


def flax_params(seed=0):
    """The encoder `Model`'s parameters, '/'-joined as the release stores them."""
    rng = np.random.default_rng(seed)

    def rand(*shape, scale=0.1):
        return (scale * rng.standard_normal(shape)).astype("float32")

    head = WIDTH // HEADS
    params = {
        "encoder/patch_embedding/Conv_0/kernel": rand(*PATCH, 3, WIDTH, scale=0.2),
        "encoder/patch_embedding/Conv_0/bias": rand(WIDTH),
        "encoder/posenc/embeddings": rand(*GRID, WIDTH, scale=0.5),
    }
    for i in range(DEPTH):
        key = f"processor/layers_{i}/"
        for norm in ("attention_norm", "mlp_norm"):
            params[f"{key}{norm}/scale"] = 1 + rand(WIDTH)
            params[f"{key}{norm}/bias"] = rand(WIDTH)
        for name in ("query", "key", "value"):
            params[f"{key}attention/{name}/kernel"] = rand(WIDTH, HEADS, head, scale=WIDTH ** -0.5)
            params[f"{key}attention/{name}/bias"] = rand(HEADS, head)
        params[f"{key}attention/out/kernel"] = rand(HEADS, head, WIDTH, scale=WIDTH ** -0.5)
        params[f"{key}attention/out/bias"] = rand(WIDTH)
        params[f"{key}mlp/dense_in/kernel"] = rand(WIDTH, MLP, scale=WIDTH ** -0.5)
        params[f"{key}mlp/dense_in/bias"] = rand(MLP)
        params[f"{key}mlp/dense_out/kernel"] = rand(MLP, WIDTH, scale=MLP ** -0.5)
        params[f"{key}mlp/dense_out/bias"] = rand(WIDTH)
    return params


def layer_norm(x, scale, bias):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-6) * scale + bias


def gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def fourds_features(params, video):
    """The release's forward pass in float64: its `features` list
    `[tokens, tokens, out_1, ..., out_{L-1}]` and the last block's output."""
    p = {k: v.astype("float64") for k, v in params.items()}
    b, t, h, w, c = video.shape
    pt, ph, pw = PATCH
    patches = video.astype("float64").reshape(b, t // pt, pt, h // ph, ph, w // pw, pw, c)
    tokens = np.einsum("bTtHhWwc,thwcd->bTHWd", patches,
                       p["encoder/patch_embedding/Conv_0/kernel"])
    tokens = tokens + p["encoder/patch_embedding/Conv_0/bias"] + p["encoder/posenc/embeddings"]
    x = tokens.reshape(b, -1, WIDTH)
    aux = [x]
    for i in range(DEPTH):
        key = f"processor/layers_{i}/"
        aux.append(x)
        y = layer_norm(x, p[key + "attention_norm/scale"], p[key + "attention_norm/bias"])
        q, k, v = (np.einsum("bnd,dhk->bnhk", y, p[f"{key}attention/{n}/kernel"])
                   + p[f"{key}attention/{n}/bias"] for n in ("query", "key", "value"))
        logits = np.einsum("bqhk,bnhk->bhqn", q / np.sqrt(q.shape[-1]), k)
        weights = np.exp(logits - logits.max(-1, keepdims=True))
        weights /= weights.sum(-1, keepdims=True)
        attended = np.einsum("bhqn,bnhk->bqhk", weights, v)
        x = x + np.einsum("bqhk,hkd->bqd", attended, p[key + "attention/out/kernel"]) \
            + p[key + "attention/out/bias"]
        y = layer_norm(x, p[key + "mlp_norm/scale"], p[key + "mlp_norm/bias"])
        y = gelu_tanh(y @ p[key + "mlp/dense_in/kernel"] + p[key + "mlp/dense_in/bias"])
        x = x + y @ p[key + "mlp/dense_out/kernel"] + p[key + "mlp/dense_out/bias"]
    return aux, x


def clips(seed=1):
    return np.random.default_rng(seed).random((2, 4, 16, 16, 3)).astype("float32")


def test_4ds_npz_converts_and_its_feature_k_is_layer_k_minus_1(tmp_path):
    params = flax_params()
    path = str(tmp_path / "scaling4d_tiny.npz")
    np.savez(path, **{"params/" + k: v for k, v in params.items()})
    backbone = kl.converters.convert_checkpoint(path, source="4ds",
                                                preset_dir=str(tmp_path / "preset"))
    assert backbone.num_heads == HEADS and backbone.intermediate_dim == MLP
    assert (backbone.num_frames, backbone.image_size) == (4, (16, 16))
    assert backbone.activation == "gelu_approximate" and not backbone.use_final_norm
    assert backbone.patch_embedding.input_mean is None  # 4DS takes [0, 1] videos
    video = clips()
    aux, last = fourds_features(params, video)
    for restored in (backbone, kl.VideoViTBackbone.from_preset(str(tmp_path / "preset"))):
        layers = [to_numpy(f) for f in restored(video)]
        for k in range(1, len(aux)):
            np.testing.assert_allclose(layers[k - 1], aux[k], atol=1e-4, rtol=1e-4,
                                       err_msg=f"4DS feature {k}")
        np.testing.assert_allclose(layers[-1], last, atol=1e-4, rtol=1e-4)


def test_a_4ds_depth_checkpoint_gives_its_encoder_and_leaves_the_readout_out(tmp_path):
    params = flax_params(seed=2)
    stored = {"params/layers_0/" + k: v for k, v in params.items()}
    stored["params/layers_2/query_emb/embedding"] = np.zeros((4, 8), "float32")
    path = str(tmp_path / "scaling4d_depth.npz")
    np.savez(path, **stored)
    backbone = kl.converters.convert_checkpoint(path, source="4ds")
    video = clips(3)
    np.testing.assert_allclose(to_numpy(backbone(video)[-1]), fourds_features(params, video)[1],
                               atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("damage, message", [
    ("rename", r"missing keys: 'processor/layers_1/mlp/dense_out/kernel'.*unexpected keys: "
               r"'processor/layers_1/mlp/dense_out/weight'"),
    ("drop", r"missing keys: 'processor/layers_2/attention/value/bias'"),
    ("extra", r"unexpected keys: 'processor/layers_0/attention/query_norm/scale'"),
    ("shape", r"mis-shaped key processor/layers_1/mlp/dense_in/kernel \(48, 81\)"),
    ("no_encoder", r"No key ends with 'encoder/patch_embedding/Conv_0/kernel'"),
])
def test_a_damaged_4ds_checkpoint_is_refused_naming_the_key(damage, message):
    params = flax_params()
    if damage == "rename":
        params["processor/layers_1/mlp/dense_out/weight"] = params.pop(
            "processor/layers_1/mlp/dense_out/kernel")
    elif damage == "drop":
        del params["processor/layers_2/attention/value/bias"]
    elif damage == "extra":
        params["processor/layers_0/attention/query_norm/scale"] = np.ones((HEADS, 16), "float32")
    elif damage == "shape":
        params["processor/layers_1/mlp/dense_in/kernel"] = np.zeros((WIDTH, MLP + 1), "float32")
    else:
        params["encoder/patch_embed/Conv_0/kernel"] = params.pop(
            "encoder/patch_embedding/Conv_0/kernel")
    with pytest.raises(CheckpointMismatchError, match=message):
        kl.converters.convert_checkpoint({"params": params}, source="4ds")


def test_released_4ds_presets_describe_the_checkpoints():
    config = kl.VideoViTBackbone.preset_config("4ds_release_vit_b_dist_e")
    assert config["position_encoding"] == "learned"
    assert config["activation"] == "gelu_approximate" and not config.get("use_final_norm")
    assert (config["hidden_dim"], config["num_layers"], config["num_heads"]) == (768, 12, 12)
    backbone = kl.converters.fourds.backbone_config  # what the converter reads
    state = {k: np.zeros(v, "float32") for k, v in {
        "encoder/patch_embedding/Conv_0/kernel": (2, 16, 16, 3, 768),
        "encoder/posenc/embeddings": (8, 14, 14, 768),
        "processor/layers_0/attention/query/kernel": (768, 12, 64),
        "processor/layers_0/attention/query/bias": (12, 64),
        "processor/layers_0/mlp/dense_in/kernel": (768, 3072)}.items()}
    for i in range(1, 12):
        state[f"processor/layers_{i}/mlp/dense_in/bias"] = np.zeros(3072, "float32")
    derived = kl.VideoViTBackbone(**backbone(state)).get_config()
    preset = kl.VideoViTBackbone(**config).get_config()
    for key in ("hidden_dim", "num_layers", "num_heads", "intermediate_dim", "patch_size",
                "num_frames", "image_size", "position_encoding", "activation", "use_qkv_bias",
                "use_final_norm", "input_mean", "layer_norm_epsilon"):
        assert derived[key] == preset[key], key
    e = kl.VideoViTBackbone.preset_config("4ds_release_vit_e")
    assert (e["hidden_dim"], e["num_layers"], e["intermediate_dim"], e["num_heads"]) == (
        1792, 56, 15360, 16)
    assert e["position_encoding"] == "learned"
