"""Statistics against independent computations (scipy, torch-fidelity) and direct formulas."""

import numpy as np
import pytest
import scipy.linalg
import torch

from avgen.metrics.stats import (FeatureStats, frechet_distance, inception_score, kernel_inception_distance,
                                 paired_kl)


def _scipy_fd(a, b):
    m1, m2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return ((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)


@pytest.mark.parametrize("n,d,seed", [(200, 16, 0), (1000, 64, 1), (300, 128, 2)])
def test_frechet_distance_matches_scipy_sqrtm(n, d, seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) * 0.3
    b = rng.normal(size=(n, d)) * 1.2 + 0.5
    ours = frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    assert ours == pytest.approx(_scipy_fd(a, b), rel=1e-6)


def test_frechet_distance_near_singular_covariances_stays_real_and_finite():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(20, 100)), rng.normal(size=(20, 100)) + 0.1  # rank 19 in 100 dimensions
    value = frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    assert np.isfinite(value) and value > 0
    # identical sets: zero up to round-off (null-space eigenvalues at round-off level are treated as zero)
    s = np.cov(a, rowvar=False)
    assert abs(frechet_distance(a.mean(0), s, a.mean(0), s)) < 1e-10 * np.trace(s)


def test_streaming_stats_equal_numpy_even_with_large_means():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(500, 32)) + 1e4  # a naive E[xx^T] - mu mu^T would lose ~8 digits here
    s = FeatureStats(keep_features=True)
    for chunk in np.array_split(x, 7):
        s.update(chunk)
    np.testing.assert_allclose(s.mean(), x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(s.cov(), np.cov(x, rowvar=False), rtol=1e-7, atol=1e-9)
    restored = FeatureStats.from_state(s.state())
    np.testing.assert_allclose(restored.cov(), s.cov(), rtol=1e-12)
    assert restored.features().shape == (500, 32)


def test_inception_score_on_fixed_logits_equals_direct_formula():
    rng = np.random.default_rng(5)
    logits = rng.normal(size=(100, 7)) * 2
    # direct: exp(mean_x KL(p(y|x) || p(y))) per split of 10 consecutive rows, no shuffling
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    scores = []
    for i in range(10):
        chunk = p[i * 10:(i + 1) * 10]
        py = chunk.mean(0)
        scores.append(np.exp(np.mean([np.sum(q * np.log(q / py)) for q in chunk])))
    mean, std = inception_score(logits, splits=10, shuffle=False)
    assert mean == pytest.approx(np.mean(scores), rel=1e-12)
    assert std == pytest.approx(np.std(scores), rel=1e-9)


def test_inception_score_extremes():
    confident_uniform = np.eye(10)[np.arange(1000) % 10] * 100  # every class equally often, certain predictions
    assert inception_score(confident_uniform, splits=10, shuffle=False)[0] == pytest.approx(10, rel=1e-6)
    assert inception_score(np.zeros((100, 10)), splits=10)[0] == pytest.approx(1.0)


def test_inception_score_and_kid_equal_torch_fidelity():
    tf_isc = pytest.importorskip("torch_fidelity.metric_isc")
    tf_kid = pytest.importorskip("torch_fidelity.metric_kid")
    g = torch.Generator().manual_seed(6)
    logits = torch.randn(500, 1008, generator=g) * 3
    ref = tf_isc.isc_features_to_metric(logits, splits=10, shuffle=True, rng_seed=2020)
    mean, std = inception_score(logits.numpy(), splits=10, shuffle=True, seed=2020)
    assert mean == pytest.approx(ref["inception_score_mean"], rel=1e-10)
    assert std == pytest.approx(ref["inception_score_std"], rel=1e-8)
    f1, f2 = torch.randn(150, 32, generator=g), torch.randn(150, 32, generator=g) + 0.2
    ref = tf_kid.kid_features_to_metric(f1, f2, kid_subsets=20, kid_subset_size=100, rng_seed=2020, verbose=False,
                                        kid_kernel="poly", kid_kernel_poly_degree=3, kid_kernel_poly_gamma=None,
                                        kid_kernel_poly_coef0=1)
    mean, std = kernel_inception_distance(f1.numpy(), f2.numpy(), subsets=20, subset_size=100, seed=2020)
    assert mean == pytest.approx(ref["kernel_inception_distance_mean"], rel=1e-5)
    assert std == pytest.approx(ref["kernel_inception_distance_std"], rel=1e-4)


def test_kid_rejects_too_large_subsets():
    with pytest.raises(ValueError, match="subset size"):
        kernel_inception_distance(np.zeros((10, 4)), np.zeros((10, 4)), subset_size=11)


def test_paired_kl_matches_specvqgan_formula():
    rng = np.random.default_rng(7)
    gen, ref = rng.normal(size=(6, 5)), rng.normal(size=(6, 5))
    pg = torch.tensor(gen).softmax(1)
    pr = torch.tensor(ref).softmax(1)
    expected = torch.nn.functional.kl_div((pg + 1e-6).log(), pr, reduction="sum") / 6
    assert paired_kl(gen, ref) == pytest.approx(float(expected), rel=1e-9)
    assert paired_kl(ref, ref) == pytest.approx(0.0, abs=1e-5)
