import os
import sys

# OpenMP threads that wait at a barrier spin (libgomp's default) instead of sleeping. On a 2-core machine where any
# other process wants a core (a second test process, the app server, a training job), a spinning thread holds the core
# its partner thread needs: torch ops then run 5-10x slower (a 2-thread conv loop: 23-35 s spinning, 5 s passive;
# the StyleGAN kill/resume trainer: 374 s vs 165 s). Set before torch loads libgomp here, and inherited by every
# subprocess the tests start; results are unchanged (it only decides how idle threads wait).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
if "torch" in sys.modules:  # a plugin loaded torch first: this process keeps spinning (its subprocesses do not)
    print("tests/conftest.py: torch was imported before OMP_WAIT_POLICY was set", file=sys.stderr)
# numpy's and scipy's OpenBLAS threads spin the same way (no wait-policy switch): the Frechet distances of the
# metric tests (np.linalg.eigh on 2560x2560 covariances) took 25.4 s with its default threads and 9.6 s with one at
# load ~6 on this box. Read when numpy loads its OpenBLAS, so set here before any test module imports numpy, and
# inherited by the subprocesses (tools/compute_fvd.py, avgen eval ...). Torch's own kernels are not affected.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
if "numpy" in sys.modules:
    print("tests/conftest.py: numpy was imported before OPENBLAS_NUM_THREADS was set", file=sys.stderr)

import pytest  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(REPO), "shared", "data", "vggsound_samples")


@pytest.fixture(scope="session")
def shared_samples() -> str:
    if not os.path.isdir(os.path.join(SHARED, "video")):
        pytest.skip(f"real sample clips not found at {SHARED} (../shared is absent on this machine)")
    return SHARED


def sample_ids(root: str) -> list[str]:
    return sorted(n[:-4] for n in os.listdir(os.path.join(root, "video")) if n.endswith(".mp4"))


@pytest.fixture(scope="module")
def one_thread():
    """torch on one thread for a module's tests (``pytestmark = pytest.mark.usefixtures("one_thread")``): tiny
    networks run faster than on two on a loaded machine, and reductions sum in one fixed order, so pinned values
    stay bit-exact; the previous count comes back after the module."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def load_tool():
    """``load_tool("make_foley.py")``: a script of tools/ imported as a module (tools/ is not a package), so its
    ``main(argv)`` and helpers can be called in-process."""
    import importlib.util

    def load(filename: str):
        path = os.path.join(os.path.dirname(__file__), "..", "tools", filename)
        spec = importlib.util.spec_from_file_location(os.path.splitext(filename)[0], path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
