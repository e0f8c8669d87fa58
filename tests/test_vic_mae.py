"""ViC-MAE and its MAE + SimSiam / MAE + VICReg baselines (Hernandez et al.,
"ViC-MAE", 2024, and its supplement): losses against NumPy, the view sampler,
the class token, round trips and short fits."""

import os

import keras
import numpy as np
import pytest
from testing_utils import gradient
from testing_utils import to_numpy

import keras_layerlock as kl


def _normalize(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _log_softmax(logits):
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def numpy_info_nce(a, b, scale):
    logits = _normalize(a) @ _normalize(b).T * scale
    forward = -np.diag(_log_softmax(logits)).mean()
    backward = -np.diag(_log_softmax(logits.T)).mean()
    return 0.5 * (forward + backward), logits


FIRST = np.random.default_rng(0).normal(size=(6, 5)).astype("float32")
SECOND = (FIRST + 0.5 * np.random.default_rng(1).normal(size=(6, 5))).astype("float32")


def test_info_nce_matches_numpy_in_both_directions():
    expected, _ = numpy_info_nce(FIRST, SECOND, 7.0)
    assert float(to_numpy(kl.losses.info_nce_loss(FIRST, SECOND, 7.0))) == pytest.approx(expected, rel=1e-5)
    # Swapping the views swaps the two directions: the same symmetric loss.
    assert float(to_numpy(kl.losses.info_nce_loss(SECOND, FIRST, 7.0))) == pytest.approx(expected, rel=1e-5)
    # One direction alone differs from the other for these inputs.
    logits = _normalize(FIRST) @ _normalize(SECOND).T * 7.0
    assert abs(np.diag(_log_softmax(logits)).mean() - np.diag(_log_softmax(logits.T)).mean()) > 1e-3


def test_info_nce_gradient_with_respect_to_tau_matches_numpy():
    tau = np.float32(np.log(1 / 0.2))

    def loss(t):
        return kl.losses.info_nce_loss(FIRST, SECOND, keras.ops.exp(t))

    # d/dtau of the symmetric loss: 0.5 * sum over directions of
    # mean_i (E_softmax[s_ij] - s_ii) * exp(tau), s the cosine similarities.
    s = _normalize(FIRST) @ _normalize(SECOND).T
    scale = np.exp(tau)
    total = 0.0
    for sims in (s, s.T):
        p = np.exp(_log_softmax(sims * scale))
        total += ((p * sims).sum(axis=1) - np.diag(sims)).mean() * scale
    assert float(gradient(loss, tau)) == pytest.approx(0.5 * total, rel=1e-4)


def test_negative_cosine_matches_numpy_and_stops_the_target_gradient():
    expected = np.mean(2 * (1 - np.sum(_normalize(FIRST) * _normalize(SECOND), axis=1)))
    value = float(to_numpy(kl.losses.negative_cosine_loss(FIRST, SECOND)))
    assert value == pytest.approx(expected, rel=1e-5)
    target_gradient = gradient(lambda z: kl.losses.negative_cosine_loss(FIRST, z), SECOND)
    np.testing.assert_array_equal(target_gradient, np.zeros_like(SECOND))
    assert np.abs(gradient(lambda p: kl.losses.negative_cosine_loss(p, SECOND), FIRST)).max() > 0


def test_vicreg_terms_match_numpy():
    total, terms = kl.losses.vicreg_loss(FIRST, SECOND)
    invariance = np.mean((FIRST - SECOND) ** 2)

    def variance_covariance(z):
        centred = z - z.mean(axis=0)
        cov = centred.T @ centred / (len(z) - 1)
        std = np.sqrt(np.diag(cov) + 1e-4)
        off = (cov ** 2).sum() - (np.diag(cov) ** 2).sum()
        return np.mean(np.maximum(0, 1 - std)), off / z.shape[1]

    (va, ca), (vb, cb) = variance_covariance(FIRST), variance_covariance(SECOND)
    expected = {"invariance": invariance, "variance": 0.5 * (va + vb), "covariance": ca + cb}
    for name, value in expected.items():
        assert float(to_numpy(terms[name])) == pytest.approx(value, rel=1e-4), name
    assert float(to_numpy(total)) == pytest.approx(
        25 * invariance + 25 * expected["variance"] + expected["covariance"], rel=1e-4)


def test_the_global_loss_weight_switches_on_at_its_start_step():
    model = kl.ViCMAE(kl.VideoViTBackbone.from_preset("video_vit_micro"), global_loss_weight=0.025,
                      global_loss_start_step=5, decoder_num_layers=1)
    weights = [float(to_numpy(model.global_loss_weight_at(step))) for step in (0, 4, 5, 100)]
    np.testing.assert_allclose(weights, [0.0, 0.0, 0.025, 0.025], rtol=1e-6)


def test_frame_pairs_respect_their_gap_bounds():
    videos = np.zeros((256, 10, 8, 8, 3), "float32")
    for t in range(10):
        videos[:, t] = t / 10
    first, second, gaps = (to_numpy(x) for x in kl.ViewPairSampling(min_gap=3, max_gap=6, seed=2)(videos))
    gaps_seen = np.round((second[:, 0, 0, 0] - first[:, 0, 0, 0]) * 10).astype(int)
    np.testing.assert_array_equal(gaps_seen, gaps)
    assert gaps.min() == 3 and gaps.max() == 6
    assert set(np.round(first[:, 0, 0, 0] * 10).astype(int)) == set(range(0, 7))
    with pytest.raises(ValueError, match="does not fit clips of 10 frames"):
        kl.ViewPairSampling(min_gap=10)(videos)
    with pytest.raises(ValueError, match="max_gap"):
        kl.ViewPairSampling(min_gap=4, max_gap=2)


def test_image_views_are_flips_and_crops_of_the_image():
    images = np.random.default_rng(3).random((8, 16, 16, 3), dtype="float32")
    first, second, _ = kl.ViewPairSampling(crop_scale=(1.0, 1.0), seed=0)(images)
    np.testing.assert_array_equal(to_numpy(first), images)
    second = to_numpy(second)
    for view, image in zip(second, images):
        assert min(np.abs(view - image).max(), np.abs(view - image[:, ::-1]).max()) < 1e-5
    cropped = to_numpy(kl.ViewPairSampling(crop_scale=(0.25, 0.25), flip=False, seed=0)(images)[1])
    assert np.abs(cropped - images).max() > 0.1


def class_token_backbone(**kwargs):
    return kl.VideoViTBackbone.from_preset("video_vit_micro", use_class_token=True, **kwargs)


def test_the_class_token_joins_every_block_and_readouts_see_patch_tokens():
    videos = np.random.default_rng(4).random((2, 4, 16, 16, 3), dtype="float32")
    backbone = class_token_backbone()
    plain = kl.VideoViTBackbone.from_preset("video_vit_micro")
    features = backbone(videos)
    assert [tuple(f.shape) for f in features] == [tuple(f.shape) for f in plain(videos)]
    patches, classes = backbone.forward_intermediates(videos, [1, 2], return_class_token=True)
    assert tuple(classes[0].shape) == (2, backbone.hidden_dim)
    # The class token attends to the patches and the patches to it.
    # (A constant shift would vanish in the LayerNorm: a random one.)
    backbone.class_token.assign(np.random.default_rng(9).normal(size=(1, 1, backbone.hidden_dim)))
    moved, moved_classes = backbone.forward_intermediates(videos, [1], return_class_token=True)
    assert np.abs(to_numpy(moved[0]) - to_numpy(patches[0])).max() > 1e-4
    assert np.abs(to_numpy(moved_classes[0]) - to_numpy(classes[0])).max() > 1e-4
    tokens, positions = backbone.embed(videos)
    assert tuple(backbone.encode(tokens, positions)[-1].shape)[1] == tokens.shape[1] + 1
    classifier = kl.ReadoutClassifier(3, backbone=backbone, feature_normalization=None)
    assert tuple(classifier(videos).shape) == (2, 3)


@pytest.mark.parametrize("placement", ["post_norm", "qk"])
def test_rope_leaves_the_class_token_unrotated(placement):
    block = kl.TransformerBlock(32, 2, 64, rotary_embedding=kl.RotaryEmbedding3D(),
                                rope_placement=placement)
    x = np.random.default_rng(5).random((2, 9, 32), dtype="float32")
    positions = kl.utils.grid_positions((2, 2, 2))
    rotated = to_numpy(block._rotate(x, positions))
    np.testing.assert_array_equal(rotated[:, :1], x[:, :1])
    np.testing.assert_allclose(rotated[:, 1:], to_numpy(block.rotary_embedding(x[:, 1:], positions)),
                               atol=1e-6)
    with pytest.raises(ValueError, match="9 tokens but 10 positions"):
        block(x, kl.utils.grid_positions((2, 5, 1)))


def test_the_baselines_need_a_class_token():
    with pytest.raises(ValueError, match="use_class_token=True"):
        kl.MAESimSiam(kl.VideoViTBackbone.from_preset("video_vit_micro"))
    with pytest.raises(ValueError, match="use_class_token=True"):
        kl.MAEVICReg(kl.VideoViTBackbone.from_preset("video_vit_micro"))


def make(cls, **kwargs):
    keras.utils.set_random_seed(1)
    backbone = class_token_backbone() if cls is not kl.ViCMAE else \
        kl.VideoViTBackbone.from_preset("video_vit_micro")
    return cls(backbone, min_gap=1, seed=0, decoder_num_layers=1, **kwargs)


MODELS = [kl.ViCMAE, kl.MAESimSiam, kl.MAEVICReg]


@pytest.mark.parametrize("cls", MODELS)
def test_keras_file_and_preset_round_trips(cls, tmp_path):
    model = make(cls)
    frames = np.random.default_rng(6).random((2, 16, 16, 3), dtype="float32")
    before = to_numpy(model.global_embedding(frames))
    path = os.path.join(str(tmp_path), "model.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert type(restored) is cls and restored.get_config() == model.get_config()
    np.testing.assert_allclose(to_numpy(restored.global_embedding(frames)), before, atol=1e-6)
    preset = str(tmp_path / "preset")
    model.save_to_preset(preset)
    reloaded = kl.PretrainingModel.from_preset(preset)
    assert type(reloaded) is cls
    np.testing.assert_allclose(to_numpy(reloaded.global_embedding(frames)), before, atol=1e-6)


@pytest.mark.parametrize("cls", MODELS)
@pytest.mark.parametrize("kind", ["video", "image"])
def test_a_short_fit_lowers_both_losses(cls, kind):
    # One colour per clip (plus noise): any two views of a clip share it, so
    # the global losses have something to learn in a few steps.
    rng = np.random.default_rng(7)
    colours = rng.random((16, 1, 1, 1, 3), dtype="float32")
    data = np.clip(colours + 0.05 * rng.normal(size=(16, 6, 16, 16, 3)), 0, 1).astype("float32")
    data = data if kind == "video" else data[:, 0]
    model = make(cls, global_loss_weight=1.0)
    model.compile(optimizer=keras.optimizers.AdamW(3e-3))
    history = model.fit(data, batch_size=8, epochs=12, verbose=0).history
    name = cls.global_loss_name
    assert np.mean(history["pixel_loss"][-3:]) < np.mean(history["pixel_loss"][:3])
    assert np.mean(history[name][-3:]) < np.mean(history[name][:3]), history[name]


def test_frame_reorderings_move_per_frame_arrays_and_keep_labels():
    rng = np.random.default_rng(8)
    videos = rng.integers(0, 255, (5, 6, 4, 4, 3)).astype("uint8")
    data = {"video": videos, "depth": videos[..., 0].astype("float32"),
            "motion": np.arange(5), "appearance": np.arange(5)[::-1]}
    splits = {"train": data}
    shuffled = kl.evaluation.reorder_frames(splits, "shuffled", seed=1)["train"]
    still = kl.evaluation.reorder_frames(splits, "repeated")["train"]
    for clip in range(5):
        # The same frames in another order, the depth maps following them.
        frames = {f.tobytes() for f in videos[clip]}
        assert {f.tobytes() for f in shuffled["video"][clip]} == frames
        order = [next(t for t in range(6) if np.array_equal(videos[clip, t], f))
                 for f in shuffled["video"][clip]]
        np.testing.assert_array_equal(shuffled["depth"][clip], data["depth"][clip, order])
        assert (still["video"][clip] == videos[clip, 0]).all()
    assert any(not np.array_equal(shuffled["video"][c], videos[c]) for c in range(5))
    np.testing.assert_array_equal(shuffled["motion"], data["motion"])
    assert kl.evaluation.reorder_frames(splits, "original") is splits
    with pytest.raises(ValueError, match="order"):
        kl.evaluation.reorder_frames(splits, "reversed")


def test_temporal_ablation_reads_out_every_order():
    suite = kl.data.ProceduralVideoSuite(num_frames=4, image_size=16, seed=0)
    splits = {split: suite.load_split(split, n, verbose=False)
              for split, n in (("train", 16), ("validation", 8), ("test", 8))}
    table = kl.evaluation.temporal_ablation(
        kl.VideoViTBackbone.from_preset("video_vit_micro"), splits, tasks=("motion",),
        num_steps=2, num_seeds=1, layer_fractions=(1.0,), learning_rates=(1e-3,))
    assert set(table) == {"original", "shuffled", "repeated"}
    for row in table.values():
        assert 0.0 <= row["motion"]["low"] <= row["motion"]["value"] <= row["motion"]["high"] <= 1.0


def test_the_other_models_keep_working_with_a_class_token():
    videos = np.random.default_rng(10).random((8, 4, 16, 16, 3), dtype="float32")
    mae = kl.LayerLockMAE(class_token_backbone(num_layers=3), num_decoder_layers=1, seed=0)
    mae.set_layerlock_state(1, 1)  # frozen prefix and a latent target, both with the token
    mae.compile(optimizer="adamw")
    assert np.isfinite(mae.fit(videos, batch_size=4, epochs=1, verbose=0).history["loss"][0])
    outputs = mae(videos)
    assert outputs["encoded"].shape[1] == 1 + outputs["visible_ids"].shape[1]
    vjepa = kl.VJEPA(class_token_backbone(), predictor_num_layers=1, predictor_hidden_dim=16,
                     masks="layerlock", ema_steps=4)
    vjepa.compile(optimizer="adamw")
    assert np.isfinite(vjepa.fit(videos, batch_size=4, epochs=1, verbose=0).history["loss"][0])
    features = kl.evaluation.extract_features(class_token_backbone(), videos, layer=2,
                                              pooling="tokens")
    assert features.shape == (8, 8, 32)
