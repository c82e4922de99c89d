import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(REPO), "shared", "data", "vggsound_samples")


@pytest.fixture(scope="session")
def shared_samples() -> str:
    if not os.path.isdir(os.path.join(SHARED, "video")):
        pytest.skip(f"real sample clips not found at {SHARED} (../shared is absent on this machine)")
    return SHARED


def sample_ids(root: str) -> list[str]:
    return sorted(n[:-4] for n in os.listdir(os.path.join(root, "video")) if n.endswith(".mp4"))
