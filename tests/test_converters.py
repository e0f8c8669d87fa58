"""Converters: V-JEPA 2 checkpoints, official and `transformers`, strictly
loaded and checked against `transformers`' independent `VJEPA2Model`."""

import keras
import numpy as np
import pytest
from testing_utils import to_numpy

import keras_layerlock as kl
from keras_layerlock.converters import CheckpointMismatchError

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

MEAN = np.array([0.485, 0.456, 0.406], "float32")
STD = np.array([0.229, 0.224, 0.225], "float32")


def hf_model(seed=0):
    """A small random `VJEPA2Model`: 48 wide, 2 heads (24-channel heads, so
    every RoPE axis rotates 8 channels), 2 blocks, 4 x 16 x 16 clips."""
    config = transformers.VJEPA2Config(
        patch_size=4, crop_size=16, frames_per_clip=4, tubelet_size=2, hidden_size=48,
        num_attention_heads=2, num_hidden_layers=2, mlp_ratio=4.0, pred_hidden_size=24,
        pred_num_attention_heads=2, pred_num_hidden_layers=1, pred_num_mask_tokens=2)
    torch.manual_seed(seed)
    model = transformers.VJEPA2Model(config).eval()
    with torch.no_grad():  # non-trivial norms and biases, so a mix-up shows
        for name, parameter in model.named_parameters():
            if name.endswith("bias") or "norm" in name:
                parameter.add_(0.1 * torch.randn_like(parameter))
    return model


def hf_layers(model, videos):
    """Embedded tokens, each block's output and the final-normed output of
    `transformers`' model on [0, 1] videos (it takes ImageNet-standardised
    `(B, T, C, H, W)`)."""
    pixels = torch.from_numpy(np.transpose((videos - MEAN) / STD, (0, 1, 4, 2, 3)))
    with torch.no_grad():
        out = model(pixels, skip_predictor=True, output_hidden_states=True)
    return [h.numpy() for h in out.hidden_states], out.last_hidden_state.numpy()


def official_state(model):
    """The same encoder as an official V-JEPA 2 checkpoint's state dict."""
    hf = {k: v for k, v in model.state_dict().items() if k.startswith("encoder.")}
    state = {"patch_embed.proj.weight": hf["encoder.embeddings.patch_embeddings.proj.weight"],
             "patch_embed.proj.bias": hf["encoder.embeddings.patch_embeddings.proj.bias"],
             "norm.weight": hf["encoder.layernorm.weight"],
             "norm.bias": hf["encoder.layernorm.bias"]}
    state.update(official_blocks(hf, "encoder.layer", "blocks", model.config.num_hidden_layers))
    return {"module.backbone." + k: v.clone() for k, v in state.items()}


def official_blocks(hf, src_prefix, dst_prefix, num_layers):
    """`transformers`' `VJEPA2Layer`s `{src_prefix}.{i}` as official blocks
    `{dst_prefix}.{i}` (query, key and value fused into `attn.qkv`)."""
    state = {}
    for i in range(num_layers):
        src, dst = f"{src_prefix}.{i}.", f"{dst_prefix}.{i}."
        for part in ("weight", "bias"):
            state[dst + "attn.qkv." + part] = torch.cat(
                [hf[src + f"attention.{n}.{part}"] for n in ("query", "key", "value")])
            for a, b in (("norm1", "norm1"), ("norm2", "norm2"), ("attention.proj", "attn.proj"),
                         ("mlp.fc1", "mlp.fc1"), ("mlp.fc2", "mlp.fc2")):
                state[dst + b + "." + part] = hf[src + a + "." + part]
    return state


def videos(seed=1):
    return np.random.default_rng(seed).random((2, 4, 16, 16, 3)).astype("float32")


def assert_matches_transformers(backbone, model, layers=None):
    """Every depth of `backbone` equals `transformers`' hidden states (the
    last one after its final norm, where it has one), within 1e-4."""
    clips = videos()
    hidden, last = (layers or hf_layers)(model, clips)
    features = [to_numpy(f) for f in backbone(clips)]
    assert len(features) == len(hidden)
    for depth in range(len(hidden) - 1):
        np.testing.assert_allclose(features[depth], hidden[depth], atol=1e-4, rtol=1e-4,
                                   err_msg=f"depth {depth}")
    np.testing.assert_allclose(features[-1], last, atol=1e-4, rtol=1e-4, err_msg="last")


def test_transformers_state_dict_converts_and_matches_every_layer(tmp_path):
    model = hf_model()
    folder = str(tmp_path / "hf")
    model.save_pretrained(folder)
    backbone = kl.converters.convert_checkpoint(folder, source="vjepa2_transformers",
                                                preset_dir=str(tmp_path / "preset"))
    assert backbone.num_heads == 2 and backbone.image_size == (16, 16)
    assert backbone.patch_embedding.input_mean == pytest.approx(MEAN)
    assert backbone.image_num_frames == 16  # V-JEPA 2's image evaluation
    assert_matches_transformers(backbone, model)
    restored = kl.VideoViTBackbone.from_preset(str(tmp_path / "preset"))
    assert_matches_transformers(restored, model)


def test_official_checkpoint_converts_and_matches_every_layer(tmp_path):
    model = hf_model(seed=3)
    path = str(tmp_path / "vjepa2.pt")
    state = official_state(model)
    torch.save({"encoder": {k: v + 1.0 for k, v in state.items()}, "target_encoder": state,
                "predictor": {"module.backbone.mask_tokens.0": torch.zeros(1, 1, 24)},
                "epoch": 3}, path)
    backbone = kl.converters.convert_checkpoint(path, source="vjepa2", num_heads=2)
    assert_matches_transformers(backbone, model)  # target_encoder by default
    online = kl.converters.convert_checkpoint(path, source="vjepa2", num_heads=2,
                                              component="encoder")
    assert not np.allclose(to_numpy(online.patch_embedding.bias),
                           to_numpy(backbone.patch_embedding.bias))


def official_predictor_state(model):
    """`transformers`' predictor as the official checkpoint's `predictor`."""
    hf = {k[len("predictor."):]: v for k, v in model.state_dict().items()
          if k.startswith("predictor.")}
    state = {"predictor_embed.weight": hf["embeddings.predictor_embeddings.weight"],
             "predictor_embed.bias": hf["embeddings.predictor_embeddings.bias"],
             "predictor_norm.weight": hf["layernorm.weight"],
             "predictor_norm.bias": hf["layernorm.bias"],
             "predictor_proj.weight": hf["proj.weight"], "predictor_proj.bias": hf["proj.bias"]}
    for i, token in enumerate(hf["embeddings.mask_tokens"]):
        state[f"mask_tokens.{i}"] = token
    state.update(official_blocks(hf, "layer", "predictor_blocks",
                                 model.config.pred_num_hidden_layers))
    return {"module.backbone." + k: v.clone() for k, v in state.items()}


def assert_predictor_matches_transformers(vjepa, model, clips, seed=0):
    """The converted predictor, fed the encoder's context tokens, gives
    `transformers`' predictions for the target tokens (its mask token 1)."""
    rng = np.random.default_rng(seed)
    order = np.stack([rng.permutation(32) for _ in range(len(clips))])
    context_ids, target_ids = np.sort(order[:, :20], 1), np.sort(order[:, 20:], 1)
    pixels = torch.from_numpy(np.transpose((clips - MEAN) / STD, (0, 1, 4, 2, 3)))
    with torch.no_grad():
        out = model(pixels, context_mask=[torch.from_numpy(context_ids)],
                    target_mask=[torch.from_numpy(target_ids)])
    expected = out.predictor_output.last_hidden_state.numpy()
    encoded = to_numpy(vjepa.backbone(clips)[-1])
    positions = to_numpy(kl.utils.grid_positions((2, 4, 4)))
    context = np.take_along_axis(encoded, context_ids[..., None], axis=1)
    predicted = vjepa.predictor(context, positions[context_ids], positions[target_ids],
                                mask_index=1)
    np.testing.assert_allclose(to_numpy(predicted), expected, atol=1e-4, rtol=1e-4)


def test_a_vjepa2_checkpoint_converts_into_a_vjepa_model_that_pretrains(tmp_path):
    model = hf_model(seed=6)
    with torch.no_grad():  # distinct mask tokens, so the wrong one shows
        model.predictor.embeddings.mask_tokens.normal_()
    clips = videos(7)
    folder = str(tmp_path / "hf")
    model.save_pretrained(folder)
    from_hf = kl.converters.convert_checkpoint(folder, source="vjepa2_transformers",
                                               component="model")
    assert isinstance(from_hf, kl.VJEPA) and from_hf.predictor.num_mask_tokens == 2
    assert_predictor_matches_transformers(from_hf, model, clips)

    path = str(tmp_path / "vjepa2.pt")
    encoder = official_state(model)
    torch.save({"encoder": {k: v + 0.5 for k, v in encoder.items()}, "target_encoder": encoder,
                "predictor": official_predictor_state(model), "epoch": 3}, path)
    official = kl.converters.convert_checkpoint(
        path, source="vjepa2", component="model", num_heads=2, predictor_num_heads=2,
        model_kwargs={"seed": 1})
    # The context encoder is `encoder`; the target encoder `target_encoder`.
    np.testing.assert_allclose(to_numpy(official.backbone.patch_embedding.bias),
                               to_numpy(official.target_encoder.patch_embedding.bias) + 0.5,
                               atol=1e-6)
    official.backbone.set_weights(official.target_encoder.get_weights())
    assert_predictor_matches_transformers(official, model, clips)
    official.compile(optimizer=keras.optimizers.AdamW(1e-4))
    history = official.fit(np.concatenate([clips, clips]), epochs=1, batch_size=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()

    broken = official_predictor_state(model)
    broken["module.backbone.predictor_blocks.0.mlp.fc3.weight"] = broken.pop(
        "module.backbone.predictor_blocks.0.mlp.fc2.weight")
    torch.save({"encoder": encoder, "target_encoder": encoder, "predictor": broken}, path)
    with pytest.raises(CheckpointMismatchError,
                       match=r"missing keys: 'predictor\.predictor_blocks\.0\.mlp\.fc2\.weight'"
                             r".*unexpected keys: 'predictor\.predictor_blocks\.0\.mlp\.fc3"):
        kl.converters.convert_checkpoint(path, source="vjepa2", component="model",
                                         num_heads=2, predictor_num_heads=2)


@pytest.mark.parametrize("damage, message", [
    ("rename", r"missing keys: 'blocks\.1\.mlp\.fc2\.weight'.*unexpected keys: "
               r"'blocks\.1\.mlp\.fc3\.weight'"),
    ("drop", r"missing keys: 'blocks\.0\.attn\.qkv\.bias'"),
    ("extra", r"unexpected keys: 'blocks\.0\.attn\.q_norm\.weight'"),
    ("shape", r"mis-shaped key blocks\.1\.attn\.proj\.weight \(48, 40\)"),
])
def test_a_damaged_official_checkpoint_is_refused_naming_the_key(tmp_path, damage, message):
    state = {k[len("module.backbone."):]: v for k, v in official_state(hf_model()).items()}
    if damage == "rename":
        state["blocks.1.mlp.fc3.weight"] = state.pop("blocks.1.mlp.fc2.weight")
    elif damage == "drop":
        del state["blocks.0.attn.qkv.bias"]
    elif damage == "extra":
        state["blocks.0.attn.q_norm.weight"] = torch.ones(24)
    else:
        state["blocks.1.attn.proj.weight"] = state["blocks.1.attn.proj.weight"][:, :40]
    path = str(tmp_path / "damaged.pt")
    torch.save({"target_encoder": state}, path)
    with pytest.raises(CheckpointMismatchError, match=message):
        kl.converters.convert_checkpoint(path, source="vjepa2", num_heads=2)


def test_a_damaged_transformers_state_dict_is_refused_and_sizes_need_heads(tmp_path):
    state = hf_model().state_dict()
    state["encoder.layer.0.attention.value.weight"] = state[
        "encoder.layer.0.attention.value.weight"][:40]
    with pytest.raises(CheckpointMismatchError, match="encoder.layer.0.attention.value.weight"):
        kl.converters.convert_checkpoint(state, source="vjepa2_transformers", num_heads=2)
    with pytest.raises(ValueError, match="num_heads"):
        kl.converters.convert_checkpoint(hf_model().state_dict(), source="vjepa2_transformers")
    with pytest.raises(ValueError, match="Unknown checkpoint source"):
        kl.converters.convert_checkpoint(state, source="vjepa3")
    with pytest.raises(CheckpointMismatchError, match="target_encoder"):
        path = str(tmp_path / "other.pt")
        torch.save({"model": {}}, path)
        kl.converters.convert_checkpoint(path, source="vjepa2")


def test_vjepa2_presets_describe_the_released_encoders():
    for name, (width, depth, mlp, heads, size) in {
        "vjepa2_vit_l": (1024, 24, 4096, 16, 256), "vjepa2_vit_h": (1280, 32, 5120, 16, 256),
        "vjepa2_vit_g": (1408, 40, 6144, 22, 256), "vjepa2_vit_g_384": (1408, 40, 6144, 22, 384),
    }.items():
        config = kl.VideoViTBackbone.preset_config(name)
        assert (config["hidden_dim"], config["num_layers"], config["intermediate_dim"],
                config["num_heads"], config["image_size"]) == (width, depth, mlp, heads, size)
        assert config["position_encoding"] == "rope3d_vjepa2" and config["use_final_norm"]
        assert tuple(config["input_std"]) == pytest.approx(STD)


# ------------------------------------------------------------------ VideoMAE
def videomae_model(cls=None, use_mean_pooling=False, seed=0, **kwargs):
    """A small random `transformers` VideoMAE (48 wide, 2 heads, 2 blocks,
    4 x 16 x 16 clips)."""
    config = transformers.VideoMAEConfig(
        image_size=16, patch_size=4, num_frames=4, tubelet_size=2, hidden_size=48,
        num_hidden_layers=2, num_attention_heads=2, intermediate_size=96,
        use_mean_pooling=use_mean_pooling, **kwargs)
    torch.manual_seed(seed)
    model = (cls or transformers.VideoMAEModel)(config).eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("bias") or "norm" in name:
                parameter.add_(0.1 * torch.randn_like(parameter))
    return model


def videomae_layers(model, clips):
    pixels = torch.from_numpy(np.transpose((clips - MEAN) / STD, (0, 1, 4, 2, 3)))
    with torch.no_grad():
        out = model(pixels, output_hidden_states=True)
    return [h.numpy() for h in out.hidden_states], out.last_hidden_state.numpy()


def videomae_original_state(model, final_norm=True):
    """The same encoder as an original VideoMAE pretraining checkpoint."""
    hf = model.state_dict()
    state = {"encoder.patch_embed.proj.weight": hf["embeddings.patch_embeddings.projection.weight"],
             "encoder.patch_embed.proj.bias": hf["embeddings.patch_embeddings.projection.bias"]}
    if final_norm:
        state.update({"encoder.norm.weight": hf["layernorm.weight"],
                      "encoder.norm.bias": hf["layernorm.bias"]})
    for i in range(model.config.num_hidden_layers):
        src, dst = f"encoder.layer.{i}.", f"encoder.blocks.{i}."
        state[dst + "attn.qkv.weight"] = torch.cat(
            [hf[src + f"attention.attention.{n}.weight"] for n in ("query", "key", "value")])
        state[dst + "attn.q_bias"] = hf[src + "attention.attention.query.bias"]
        state[dst + "attn.v_bias"] = hf[src + "attention.attention.value.bias"]
        for a, b in (("layernorm_before", "norm1"), ("layernorm_after", "norm2"),
                     ("attention.output.dense", "attn.proj"), ("intermediate.dense", "mlp.fc1"),
                     ("output.dense", "mlp.fc2")):
            for part in ("weight", "bias"):
                state[dst + b + "." + part] = hf[src + a + "." + part]
    # The pretraining decoder beside the encoder: known, left out.
    state["decoder.norm.weight"] = torch.ones(24)
    state["encoder_to_decoder.weight"] = torch.zeros(24, 48)
    state["mask_token"] = torch.zeros(1, 1, 24)
    return {k: v.clone() for k, v in state.items()}


def assert_matches_videomae(backbone, model):
    assert_matches_transformers(backbone, model, videomae_layers)


def test_videomae_transformers_and_original_checkpoints_match_every_layer(tmp_path):
    model = videomae_model(layer_norm_eps=1e-12)
    folder = str(tmp_path / "hf")
    model.save_pretrained(folder)
    backbone = kl.converters.convert_checkpoint(folder, source="videomae_transformers")
    assert backbone.position_encoding == "learned" and backbone.layer_norm_epsilon == 1e-12
    assert backbone.final_norm is not None
    assert_matches_videomae(backbone, model)
    path = str(tmp_path / "videomae.pth")
    torch.save({"model": videomae_original_state(model)}, path)
    original = kl.converters.convert_checkpoint(path, source="videomae", num_heads=2,
                                                num_frames=4, image_size=16,
                                                layer_norm_epsilon=1e-12)
    assert_matches_videomae(original, model)
    # The key has no bias in VideoMAE: the fused bias holds zeros there.
    bias = to_numpy(original.transformer_layers[0].qkv.bias)
    np.testing.assert_array_equal(bias[48:96], 0.0)


def test_a_fine_tuned_videomae_classifier_gives_its_encoder_without_a_final_norm():
    model = videomae_model(transformers.VideoMAEForVideoClassification, use_mean_pooling=True,
                           num_labels=3)
    backbone = kl.converters.convert_checkpoint(model.state_dict(),
                                                source="videomae_transformers", num_heads=2,
                                                num_frames=4, image_size=16)
    assert backbone.final_norm is None
    assert_matches_videomae(backbone, model.videomae)


def test_a_fine_tuned_videomae_converts_into_a_classifier_with_its_logits(tmp_path):
    """`component="classifier"`: mean pooling, fc_norm and the linear head
    give `VideoMAEForVideoClassification`'s logits, from the transformers
    state dict and from the same weights in the original layout."""
    model = videomae_model(transformers.VideoMAEForVideoClassification, use_mean_pooling=True,
                           num_labels=5, seed=4)
    clips = videos(5)
    pixels = torch.from_numpy(np.transpose((clips - MEAN) / STD, (0, 1, 4, 2, 3)))
    with torch.no_grad():
        logits = model(pixels).logits.numpy()
    folder = str(tmp_path / "hf")
    model.save_pretrained(folder)
    classifier = kl.converters.convert_checkpoint(folder, source="videomae_transformers",
                                                  component="classifier",
                                                  preset_dir=str(tmp_path / "preset"))
    assert isinstance(classifier, kl.VideoClassifier) and classifier.num_classes == 5
    np.testing.assert_allclose(to_numpy(classifier(clips)), logits, atol=1e-4, rtol=1e-4)
    restored = kl.VideoClassifier.from_preset(str(tmp_path / "preset"))
    np.testing.assert_allclose(to_numpy(restored(clips)), logits, atol=1e-4, rtol=1e-4)

    hf = model.state_dict()
    encoder = videomae_original_state(model.videomae, final_norm=False)
    original = {k[len("encoder."):]: v for k, v in encoder.items() if k.startswith("encoder.")}
    original.update({"fc_norm.weight": hf["fc_norm.weight"], "fc_norm.bias": hf["fc_norm.bias"],
                     "head.weight": hf["classifier.weight"], "head.bias": hf["classifier.bias"]})
    converted = kl.converters.convert_checkpoint({"module": original}, source="videomae",
                                                 component="classifier", num_heads=2,
                                                 num_frames=4, image_size=16,
                                                 layer_norm_epsilon=1e-12)
    # The original fc_norm has epsilon 1e-6 (transformers' 1e-5).
    np.testing.assert_allclose(to_numpy(converted(clips)), logits, atol=1e-4, rtol=1e-4)
    with pytest.raises(CheckpointMismatchError, match=r"missing key 'head\.weight'"):
        kl.converters.convert_checkpoint(
            {k: v for k, v in original.items() if not k.startswith("head.")},
            source="videomae", component="classifier", num_heads=2, num_frames=4,
            image_size=16)


def test_a_damaged_videomae_checkpoint_is_refused_naming_the_key(tmp_path):
    state = videomae_original_state(videomae_model())
    del state["encoder.blocks.1.attn.v_bias"]
    state["encoder.blocks.0.attn.k_bias"] = torch.zeros(48)
    with pytest.raises(CheckpointMismatchError,
                       match=r"missing keys: 'blocks\.1\.attn\.v_bias'.*unexpected keys: "
                             r"'blocks\.0\.attn\.k_bias'"):
        kl.converters.convert_checkpoint({"model": state}, source="videomae", num_heads=2,
                                         num_frames=4, image_size=16)


def test_videomae_position_table_is_the_1d_sine_cosine_of_the_token_index():
    from keras_layerlock.converters.videomae import sinusoid_position_table

    table = sinusoid_position_table(6, 8)
    j = np.arange(8)
    angles = 5 / 10000.0 ** (2 * (j // 2) / 8)
    np.testing.assert_allclose(table[5, 0::2], np.sin(angles[0::2]), rtol=1e-6)
    np.testing.assert_allclose(table[5, 1::2], np.cos(angles[1::2]), rtol=1e-6)
