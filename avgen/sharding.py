"""Batch generation split over processes started by a launcher (``accelerate launch``, ``torchrun``).

The launcher sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` (plus ``LOCAL_WORLD_SIZE`` and ``MASTER_ADDR`` /
``MASTER_PORT``) in every process it starts. :func:`detect_launch` reads them; :func:`shard` gives each process the
rows ``rank, rank + world, rank + 2 world, ...`` of a manifest (deterministic: the same rows on every rerun, so a
resumed run finds each process's finished files where it left them). :class:`ShardGroup` joins the processes over
gloo (CPU sockets, whatever device the models use) only to add up their counts at the end: no model state is shared,
so a rank that dies closes its sockets and the others' collective fails instead of waiting for ever.
"""

from __future__ import annotations

import datetime
import os
from typing import NamedTuple, Sequence, TypeVar

from .errors import AvgenError

__all__ = ["Launch", "detect_launch", "shard", "threads_per_process", "ShardGroup"]

T = TypeVar("T")


class Launch(NamedTuple):
    rank: int
    world_size: int
    local_rank: int
    local_world_size: int


def _env_int(environ, name: str, default: int | None = None) -> int | None:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise AvgenError(f"environment variable {name}={raw!r}: not a whole number (set by the launcher)") from None


def detect_launch(environ=None) -> Launch | None:
    """The launcher's process layout, or None when this process runs alone (no ``WORLD_SIZE``, or 1)."""
    env = os.environ if environ is None else environ
    world = _env_int(env, "WORLD_SIZE")
    if world is None or world == 1:
        return None
    rank = _env_int(env, "RANK")
    if world < 1 or rank is None or not 0 <= rank < world:
        raise AvgenError(f"environment variables RANK={env.get('RANK')!r} WORLD_SIZE={world}: RANK must be in "
                         f"[0, WORLD_SIZE)")
    local_rank = _env_int(env, "LOCAL_RANK", rank)
    local_world = _env_int(env, "LOCAL_WORLD_SIZE", world)
    return Launch(rank, world, local_rank, max(1, local_world))


def shard(items: Sequence[T], launch: Launch | None) -> list[int]:
    """Indices of ``items`` this process generates: every ``world_size``-th from ``rank`` (all of them alone).
    Interleaved rather than contiguous so that long and short rows, often grouped in a manifest, spread evenly."""
    if launch is None:
        return list(range(len(items)))
    return list(range(launch.rank, len(items), launch.world_size))


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may run on (containers, taskset)
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def threads_per_process(launch: Launch | None, requested: int | None = None, environ=None) -> int | None:
    """torch CPU threads for this process, or None to keep torch's own choice.

    ``requested`` (``--threads``) wins. Alone: None (torch follows ``OMP_NUM_THREADS`` or uses every core). Under a
    launcher: ``OMP_NUM_THREADS`` when it is above 1; otherwise the available cores divided by the processes on this
    machine -- launchers set ``OMP_NUM_THREADS=1`` themselves when it was unset, which would leave most cores of a
    large machine idle, so a 1 there cannot be told from a user's choice (give ``--threads 1`` for that)."""
    if requested is not None:
        return requested
    if launch is None:
        return None
    env = os.environ if environ is None else environ
    omp = _env_int(env, "OMP_NUM_THREADS")
    if omp is not None and omp > 1:
        return omp
    return max(1, available_cores() // launch.local_world_size)


class ShardGroup:
    """The processes of one sharded batch, joined over gloo to add up counts (``with ShardGroup(launch) as g``).

    Without a launch (one process), or without ``MASTER_ADDR`` / ``MASTER_PORT`` (ranks set by hand), it joins
    nothing: :meth:`sum` returns this process's own counts and :attr:`joined` is False. The collective waits as long
    as the slowest shard takes (``timeout``, default a week); a rank that dies ends it at once with an error."""

    def __init__(self, launch: Launch | None, *, timeout: datetime.timedelta = datetime.timedelta(days=7)):
        self.launch = launch
        self.timeout = timeout
        self.joined = False
        self._owns = False

    def __enter__(self) -> "ShardGroup":
        if self.launch is None or not (os.environ.get("MASTER_ADDR") and os.environ.get("MASTER_PORT")):
            return self
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            self.joined = True
            return self
        if not dist.is_available():
            return self
        dist.init_process_group("gloo", rank=self.launch.rank, world_size=self.launch.world_size,
                                timeout=self.timeout)
        self.joined = self._owns = True
        return self

    def sum(self, counts: Sequence[int]) -> list[int]:
        """Element-wise sum of every process's ``counts`` (the same list everywhere)."""
        if not self.joined:
            return list(counts)
        import torch
        import torch.distributed as dist

        t = torch.tensor(list(counts), dtype=torch.int64)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t.tolist()

    def barrier(self) -> None:
        if self.joined:
            import torch.distributed as dist

            dist.barrier()

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._owns:
            import torch.distributed as dist

            try:
                dist.destroy_process_group()
            except Exception:  # noqa: BLE001 - leaving after a peer failed: nothing left to tidy
                pass
