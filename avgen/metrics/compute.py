"""Folder-level FVD, FID/KID and IS: stream inputs through a feature network, accumulate statistics, report.

Each function returns a report dict (see :func:`avgen.metrics.report.make_report`) whose ``profile`` records what
was computed. Real-data statistics are cached by (files, profile) so that repeated evaluations against the same
reference set decode it once.
"""

from __future__ import annotations

import os

from ..errors import AvgenError
from . import inputs as io
from .networks import (EfficientNetImageExtractor, EfficientNetVideoExtractor, I3DExtractor, InceptionExtractor)
from .report import StatsCache, make_report
from .stats import FeatureStats, frechet_distance, inception_score, kernel_inception_distance

__all__ = ["video_extractor", "image_extractor", "video_statistics", "image_statistics", "compute_fvd",
           "compute_fid", "compute_is"]


def _progress(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="item", disable=not enabled, leave=False)


def video_extractor(weights=None, *, layer: str = "logits", device=None):
    """I3D from ``weights`` (state dict or TorchScript), or the offline EfficientNet default when ``None``."""
    if weights is None:
        return EfficientNetVideoExtractor(device=device)
    return I3DExtractor(weights, layer=layer, device=device)


def image_extractor(weights=None, *, protocol: str = "torch-fidelity", device=None):
    """Inception-v3 (2015-12-05) from ``weights``, or the offline EfficientNet default when ``None``."""
    if weights is None:
        return EfficientNetImageExtractor(device=device)
    return InceptionExtractor(weights, protocol=protocol, device=device)


def _limit(paths: list[str], max_items: int | None) -> list[str]:
    return paths if max_items is None else paths[:max_items]


def video_statistics(path, extractor, spec: io.ClipSpec, *, max_videos: int | None = None, batch_size: int = 8,
                     cache: StatsCache | None = None, progress: bool = True) -> tuple[FeatureStats, int, bool]:
    """FVD statistics of the clips of every video under ``path``: (stats, number of videos, loaded from cache)."""
    videos = _limit(io.list_videos(path), max_videos)
    root = path if os.path.isdir(path) else None
    key = StatsCache.key(io.file_fingerprint(videos, root), {"net": extractor.profile(), "clip": vars(spec)})
    if cache is not None and (hit := cache.load(key)) is not None:
        return hit["fvd"], len(videos), True
    stats = FeatureStats()
    with _progress(len(videos), f"fvd {os.path.basename(os.path.normpath(path))}", progress) as bar:
        for names, clips in io.clip_batches(videos, spec, batch_size=batch_size):
            stats.update(extractor(clips)["fvd"].double().numpy())
            bar.update(len(names))
    if cache is not None:
        cache.save(key, {"fvd": stats})
    return stats, len(videos), False


def image_statistics(path, extractor, *, layers: tuple[str, ...], keep_features: bool = False,
                     frames_per_video: int | None = None, frame_stride: int = 1, fps: float | None = None,
                     batch_size: int = 32, cache: StatsCache | None = None,
                     progress: bool = True) -> tuple[dict[str, FeatureStats], int, bool]:
    """Per-layer statistics over the images under ``path`` (or the first ``frames_per_video`` frames of each
    video). ``keep_features`` keeps every vector (KID, IS)."""
    if frames_per_video is None:
        files = io.list_images(path)
    else:
        files = io.list_videos(path)
    root = path if os.path.isdir(path) else None
    key = StatsCache.key(io.file_fingerprint(files, root),
                         {"net": extractor.profile(), "layers": list(layers), "keep": keep_features,
                          "frames": [frames_per_video, frame_stride, fps]})
    if cache is not None and (hit := cache.load(key)) is not None:
        return hit, hit[layers[0]].n, True
    total, batches = io.image_batches(path, batch_size=batch_size, frames_per_video=frames_per_video,
                                      frame_stride=frame_stride, fps=fps)
    stats = {layer: FeatureStats(keep_features=keep_features) for layer in layers}
    with _progress(total, f"features {os.path.basename(os.path.normpath(path))}", progress) as bar:
        for names, images in batches:
            feats = extractor(images)
            for layer in layers:
                stats[layer].update(feats[layer].double().numpy())
            bar.update(len(names))
    if cache is not None:
        cache.save(key, stats)
    return stats, stats[layers[0]].n, False


def compute_fvd(real, fake, *, weights=None, layer: str = "logits", num_frames: int = 16, stride: int = 1,
                start: int = 0, fps: float | None = None, max_videos: int | None = None, batch_size: int = 8,
                device=None, cache_dir: str | None = None, progress: bool = True) -> dict:
    """Frechet Video Distance between the videos under ``real`` and ``fake`` (files or frame folders).

    One clip per video: ``num_frames`` frames every ``stride`` frames from ``start`` (16 consecutive frames from the
    first, as StyleGAN-V's FVD2048_16f). ``weights=None`` uses the offline EfficientNet default, which is labelled
    as not comparable with published FVD."""
    extractor = video_extractor(weights, layer=layer, device=device)
    spec = io.ClipSpec(num_frames=num_frames, stride=stride, start=start, fps=fps)
    cache = StatsCache(cache_dir)
    s_real, n_real, cached = video_statistics(real, extractor, spec, max_videos=max_videos, batch_size=batch_size,
                                              cache=cache, progress=progress)
    s_fake, n_fake, _ = video_statistics(fake, extractor, spec, max_videos=max_videos, batch_size=batch_size,
                                         cache=None, progress=progress)
    for name, n in (("real", n_real), ("fake", n_fake)):
        if n < 2:
            raise AvgenError(f"FVD needs at least 2 {name} videos, got {n}")
    value = frechet_distance(s_real.mean(), s_real.cov(), s_fake.mean(), s_fake.cov())
    profile = {**extractor.profile(), "frames_per_clip": num_frames, "frame_stride": stride, "start_frame": start,
               "fps": fps or "native", "clips_per_video": 1, "num_real": n_real, "num_fake": n_fake,
               "max_videos": max_videos, "seed": "none (deterministic clip choice)", "real_stats_cached": cached,
               "precision": "features fp32, statistics fp64"}
    return make_report("fvd", {"fvd": value}, profile, real=os.fspath(real), fake=os.fspath(fake))


def compute_fid(real, fake, *, weights=None, protocol: str = "torch-fidelity", kid: bool = True,
                kid_subsets: int = 100, kid_subset_size: int | None = None, seed: int = 2020,
                frames_per_video: int | None = None, frame_stride: int = 1, fps: float | None = None,
                batch_size: int = 32, device=None, cache_dir: str | None = None, progress: bool = True) -> dict:
    """FID (and KID) between two folders of images, or of videos' frames when ``frames_per_video`` is set.
    ``kid_subset_size=None`` uses torch-fidelity's 1000, or the smaller set size when a set is smaller; the profile
    records the size used. An explicit size larger than a set is an error."""
    extractor = image_extractor(weights, protocol=protocol, device=device)
    layer = extractor.layer_for["fid"]
    cache = StatsCache(cache_dir)
    common = dict(layers=(layer,), keep_features=kid, frames_per_video=frames_per_video, frame_stride=frame_stride,
                  fps=fps, batch_size=batch_size, progress=progress)
    s_real, n_real, cached = image_statistics(real, extractor, cache=cache, **common)
    s_fake, n_fake, _ = image_statistics(fake, extractor, cache=None, **common)
    for name, n in (("real", n_real), ("fake", n_fake)):
        if n < 2:
            raise AvgenError(f"FID needs at least 2 {name} images, got {n}")
    r, f = s_real[layer], s_fake[layer]
    values = {"fid": frechet_distance(r.mean(), r.cov(), f.mean(), f.cov())}
    profile = {**extractor.profile(), "layer": layer, "num_real": n_real, "num_fake": n_fake,
               "frames_per_video": frames_per_video, "frame_stride": frame_stride, "fps": fps or "native",
               "real_stats_cached": cached}
    if kid:
        size = min(1000, n_real, n_fake) if kid_subset_size is None else kid_subset_size
        values["kid_mean"], values["kid_std"] = kernel_inception_distance(
            r.features(), f.features(), subsets=kid_subsets, subset_size=size, seed=seed)
        profile.update(kid_subsets=kid_subsets, kid_subset_size=size, kid_kernel="poly degree 3, gamma 1/D, coef0 1",
                       seed=seed)
    return make_report("fid", values, profile, real=os.fspath(real), fake=os.fspath(fake))


def compute_is(path, *, weights=None, protocol: str = "torch-fidelity", splits: int = 10, shuffle: bool = True,
               seed: int = 2020, frames_per_video: int | None = None, frame_stride: int = 1, fps: float | None = None,
               batch_size: int = 32, device=None, progress: bool = True) -> dict:
    """Inception Score of the images under ``path``; with ``frames_per_video`` the per-frame IS of a folder of
    videos (as the sound-to-video paper reports it)."""
    extractor = image_extractor(weights, protocol=protocol, device=device)
    layer = extractor.layer_for["is"]
    stats, n, _ = image_statistics(path, extractor, layers=(layer,), keep_features=True,
                                   frames_per_video=frames_per_video, frame_stride=frame_stride, fps=fps,
                                   batch_size=batch_size, cache=None, progress=progress)
    mean, std = inception_score(stats[layer].features(), splits=splits, shuffle=shuffle, seed=seed)
    profile = {**extractor.profile(), "layer": layer, "num_samples": n, "splits": splits, "shuffle": shuffle,
               "seed": seed, "frames_per_video": frames_per_video, "frame_stride": frame_stride,
               "fps": fps or "native"}
    return make_report("is", {"is_mean": mean, "is_std": std}, profile, path=os.fspath(path))
