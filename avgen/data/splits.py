"""Deterministic train/test splits of corpus manifests that keep related rows together (used by the sound and the
image corpora)."""

from __future__ import annotations

import random
from typing import Sequence

__all__ = ["linked_groups", "hold_out_groups"]


def linked_groups(rows, key: str, *, link: str = "sha256") -> dict[str, str]:
    """``row[key]`` -> its group: keys whose rows share a ``link`` value (the same content shipped twice) are merged
    (union-find), and each group is named by its smallest key, so the result does not depend on the rows' order."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    first: dict[str, str] = {}  # link value -> a key that has it
    for row in rows:
        a, b = find(row[key]), find(first.setdefault(row[link], row[key]))
        if a != b:
            parent[max(a, b)] = min(a, b)
    return {row[key]: find(row[key]) for row in rows}


def hold_out_groups(group_class: dict[str, str], classes: Sequence[str], *, test_fraction: float,
                    rng: random.Random) -> set[str]:
    """The groups held out: in each class (in ``classes`` order) a seeded ``test_fraction`` share of its groups,
    rounded, and at least one when the class has two or more groups; none of a class with one group."""
    held: set[str] = set()
    for c in classes:
        members = sorted(g for g, k in group_class.items() if k == c)
        rng.shuffle(members)
        k = max(1, round(test_fraction * len(members))) if len(members) >= 2 else 0
        held.update(members[:k])
    return held
