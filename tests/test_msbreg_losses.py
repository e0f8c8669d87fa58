"""MSBReg's losses (multiview centroid, Brownian diffusion, singular value)
against NumPy computations on fixed inputs."""

import numpy as np
import pytest
from testing_utils import gradient
from testing_utils import to_numpy

import keras_layerlock as kl

RNG = np.random.default_rng(0)
PREDICTIONS = RNG.normal(size=(4, 5, 6)).astype("float32")
TARGETS = RNG.normal(size=(4, 5, 6)).astype("float32")


def _normalize(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_multiview_centroid_loss_matches_numpy():
    q, z = _normalize(PREDICTIONS), _normalize(TARGETS)
    total = 0.0
    for i in range(4):
        centroid = _normalize(np.mean([z[j] for j in range(4) if j != i], axis=0))
        total += np.mean(2 - 2 * np.sum(q[i] * centroid, axis=-1))
    value = float(to_numpy(kl.losses.multiview_centroid_loss(PREDICTIONS, TARGETS)))
    assert value == pytest.approx(total / 4, rel=1e-5)


def test_two_views_give_byols_symmetrised_loss_and_targets_get_no_gradient():
    q, z = _normalize(PREDICTIONS[:2]), _normalize(TARGETS[:2])
    byol = 0.5 * (np.mean(2 - 2 * np.sum(q[0] * z[1], -1)) + np.mean(2 - 2 * np.sum(q[1] * z[0], -1)))
    value = float(to_numpy(kl.losses.multiview_centroid_loss(PREDICTIONS[:2], TARGETS[:2])))
    assert value == pytest.approx(byol, rel=1e-5)
    grad = gradient(lambda t: kl.losses.multiview_centroid_loss(PREDICTIONS, t), TARGETS)
    np.testing.assert_array_equal(grad, np.zeros_like(TARGETS))
    with pytest.raises(ValueError, match="at least 2 views"):
        kl.losses.multiview_centroid_loss(PREDICTIONS[:1], TARGETS[:1])


def test_brownian_loss_is_the_mean_cosine_with_the_direction():
    embeddings = PREDICTIONS[0]
    direction = RNG.normal(size=(6,)).astype("float32")
    expected = np.mean(_normalize(embeddings) @ (direction / np.linalg.norm(direction)))
    value = float(to_numpy(kl.losses.brownian_diffusion_loss(embeddings, direction)))
    assert value == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match=r"\(D,\)"):
        kl.losses.brownian_diffusion_loss(embeddings, direction[:3])


def test_singular_value_loss_is_minus_the_mean_singular_value_of_normalised_rows():
    embeddings = PREDICTIONS[1]
    expected = -np.linalg.svd(_normalize(embeddings), compute_uv=False).mean()
    value = float(to_numpy(kl.losses.singular_value_loss(embeddings)))
    assert value == pytest.approx(expected, rel=1e-4)
    # A collapsed batch (every row the same) has one singular value: a higher loss.
    collapsed = np.repeat(embeddings[:1], 5, axis=0)
    assert float(to_numpy(kl.losses.singular_value_loss(collapsed))) > value
    grad = gradient(lambda e: kl.losses.singular_value_loss(e), embeddings)
    assert np.isfinite(grad).all() and np.abs(grad).max() > 0
