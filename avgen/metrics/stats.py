"""Statistics behind the distribution metrics: Frechet distance, KID, Inception Score, paired KL.

Every number is computed in float64. The formulas follow the references named in each docstring; the tests check
them against independent computations (scipy's ``sqrtm``, torch-fidelity).
"""

from __future__ import annotations

import numpy as np

__all__ = ["FeatureStats", "frechet_distance", "trace_sqrt_product", "kernel_inception_distance",
           "inception_score", "paired_kl"]


class FeatureStats:
    """Streaming mean and covariance of feature vectors (memory: one D x D matrix, not the dataset).

    Sums are taken around a shift (the first batch's mean) so that large feature means do not cancel catastrophically
    in ``E[xx^T] - mu mu^T``. ``keep_features=True`` also stores every vector (KID needs them).
    """

    def __init__(self, *, keep_features: bool = False):
        self.n = 0
        self._shift = None
        self._sum = None
        self._outer = None
        self.keep_features = keep_features
        self._kept: list[np.ndarray] = []

    def update(self, features) -> None:
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2:
            raise ValueError(f"features must be [N, D], got shape {x.shape}")
        if len(x) == 0:
            return
        if self._shift is None:
            self._shift = x.mean(axis=0)
            self._sum = np.zeros(x.shape[1])
            self._outer = np.zeros((x.shape[1], x.shape[1]))
        elif x.shape[1] != self._shift.shape[0]:
            raise ValueError(f"feature dimension changed from {self._shift.shape[0]} to {x.shape[1]}")
        d = x - self._shift
        self._sum += d.sum(axis=0)
        self._outer += d.T @ d
        self.n += len(x)
        if self.keep_features:
            self._kept.append(x.astype(np.float32))

    @property
    def dim(self) -> int | None:
        return None if self._shift is None else int(self._shift.shape[0])

    def mean(self) -> np.ndarray:
        self._need(1)
        return self._shift + self._sum / self.n

    def cov(self) -> np.ndarray:
        """Unbiased covariance (``np.cov`` convention, divisor N - 1)."""
        self._need(2)
        m = self._sum / self.n
        return (self._outer - self.n * np.outer(m, m)) / (self.n - 1)

    def features(self) -> np.ndarray:
        if not self.keep_features:
            raise RuntimeError("features were not kept (keep_features=False)")
        return np.concatenate(self._kept) if self._kept else np.zeros((0, self.dim or 0), np.float32)

    def _need(self, n: int) -> None:
        if self.n < n:
            raise ValueError(f"need at least {n} feature vectors, have {self.n}")

    def state(self) -> dict[str, np.ndarray]:
        """Arrays to cache on disk (``from_state`` restores them)."""
        out = {"n": np.array(self.n), "mu": self.mean(), "sigma": self.cov()}
        if self.keep_features:
            out["features"] = self.features()
        return out

    @classmethod
    def from_state(cls, state) -> "FeatureStats":
        s = cls(keep_features="features" in state)
        s.n = int(state["n"])
        s._shift = np.asarray(state["mu"], np.float64)
        s._sum = np.zeros_like(s._shift)
        # outer sum around mu: (n - 1) * sigma
        s._outer = np.asarray(state["sigma"], np.float64) * (s.n - 1)
        if "features" in state:
            s._kept = [np.asarray(state["features"])]
        return s


def _resolvable(w: np.ndarray) -> np.ndarray:
    """Eigenvalues with round-off removed: values below ``D * eps * max|w|`` cannot be told from zero (they are
    what the null space of a singular covariance turns into), and a square root would amplify them to
    ``sqrt(eps) * max`` each, so they are set to exactly zero."""
    tol = len(w) * np.finfo(np.float64).eps * max(float(np.abs(w).max(initial=0.0)), np.finfo(np.float64).tiny)
    return np.where(w > tol, w, 0.0)


def _psd_sqrt(a: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric PSD matrix (round-off eigenvalues set to zero)."""
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(_resolvable(w))) @ v.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr( (sigma1 sigma2)^(1/2) ) for covariance matrices.

    sigma1 sigma2 is similar to S sigma2 S with S = sigma1^(1/2), which is symmetric PSD, so the trace is the sum of
    the square roots of its eigenvalues. This stays real and finite when either covariance is singular (fewer samples
    than dimensions), where a general matrix square root returns complex noise; eigenvalues at round-off level are
    treated as zero so that the null space does not add ``sqrt(eps)``-sized terms.
    """
    s = _psd_sqrt(sigma1)
    m = s @ sigma2 @ s
    w = np.linalg.eigvalsh((m + m.T) / 2)
    return float(np.sqrt(_resolvable(w)).sum())


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2) (Heusel et al. 2017, eq. 6; FVD: Unterthiner et
    al. 2018): ``|mu1 - mu2|^2 + tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2))``."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"statistics differ in shape: mu {mu1.shape} vs {mu2.shape}, "
                         f"sigma {sigma1.shape} vs {sigma2.shape}")
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt_product(sigma1, sigma2))


def kernel_inception_distance(features1, features2, *, subsets: int = 100, subset_size: int = 1000,
                              degree: int = 3, gamma: float | None = None, coef0: float = 1.0,
                              seed: int = 2020) -> tuple[float, float]:
    """KID (Binkowski et al. 2018): unbiased MMD^2 with the polynomial kernel ``(gamma x.y + coef0)^degree``
    (gamma = 1/D) over random subsets drawn without replacement. Defaults and subset sampling order are
    torch-fidelity's (100 subsets of 1000, ``np.random.RandomState(2020)``). Returns (mean, std)."""
    f1, f2 = np.asarray(features1, np.float64), np.asarray(features2, np.float64)
    n1, n2 = len(f1), len(f2)
    if n1 < subset_size or n2 < subset_size:
        raise ValueError(f"KID subset size {subset_size} exceeds the number of samples ({n1}, {n2}); "
                         "lower subset_size")
    g = 1.0 / f1.shape[1] if gamma is None else gamma
    rng = np.random.RandomState(seed)
    m = subset_size
    mmds = np.zeros(subsets)
    for i in range(subsets):
        x = f1[rng.choice(n1, m, replace=False)]
        y = f2[rng.choice(n2, m, replace=False)]
        kxx = (x @ x.T * g + coef0) ** degree
        kyy = (y @ y.T * g + coef0) ** degree
        kxy = (x @ y.T * g + coef0) ** degree
        # off-diagonal means within each set, full mean across sets
        mmds[i] = ((kxx.sum() - np.trace(kxx)) + (kyy.sum() - np.trace(kyy))) / (m * (m - 1)) - 2 * kxy.sum() / m**2
    return float(mmds.mean()), float(mmds.std())


def _softmax64(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z = np.asarray(logits, np.float64)
    z = z - z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return np.exp(log_p), log_p


def inception_score(logits, *, splits: int = 10, shuffle: bool = True, seed: int = 2020) -> tuple[float, float]:
    """Inception Score (Salimans et al. 2016): ``exp(E_x KL(p(y|x) || p(y)))`` per split; returns (mean, std) over
    splits (population std). Split ``i`` is rows ``[i N / splits, (i + 1) N / splits)``. ``shuffle`` permutes rows
    with ``np.random.RandomState(seed)`` first, as torch-fidelity does (seed 2020); the original TF code does not."""
    p, log_p = _softmax64(logits)
    n = len(p)
    if n < splits:
        raise ValueError(f"Inception Score needs at least {splits} samples for {splits} splits, got {n}")
    if shuffle:
        perm = np.random.RandomState(seed).permutation(n)
        p, log_p = p[perm], log_p[perm]
    scores = []
    for i in range(splits):
        lo, hi = i * n // splits, (i + 1) * n // splits
        marginal = p[lo:hi].mean(axis=0, keepdims=True)
        kl = (p[lo:hi] * (log_p[lo:hi] - np.log(marginal))).sum(axis=1).mean()
        scores.append(np.exp(kl))
    return float(np.mean(scores)), float(np.std(scores))


def paired_kl(logits_generated, logits_reference, *, eps: float = 1e-6) -> float:
    """Mean KL(p_ref_i || p_gen_i) over pairs of class posteriors (SpecVQGAN's MKL): softmax of both, ``eps`` added
    to the generated probabilities before the log, summed over classes and averaged over pairs."""
    g = np.asarray(logits_generated, np.float64)
    r = np.asarray(logits_reference, np.float64)
    if g.shape != r.shape:
        raise ValueError(f"paired logits differ in shape: {g.shape} vs {r.shape}")
    pg, _ = _softmax64(g)
    pr, log_pr = _softmax64(r)
    kl = np.where(pr > 0, pr * (log_pr - np.log(pg + eps)), 0.0)
    return float(kl.sum() / len(g))
