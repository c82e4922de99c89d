"""Build files in the public checkpoint layouts without the original code, for the loader tests.

NVIDIA ``.pkl`` layout (stylegan2-ada-pytorch / stylegan3): a pickled dict ``{'G', 'D', 'G_ema', 'augment_pipe',
'training_set_kwargs', ...}``. Each network is pickled by ``torch_utils.persistence`` as
``_reconstruct_persistent_obj(meta)`` with ``meta = {'type': 'class', 'version': 6, 'module_src': <module source>,
'class_name': <name>, 'state': <the module's __dict__>}``; the state holds ``_parameters``/``_buffers``/``_modules``
OrderedDicts (children are persistent objects too), hook dicts, plain attributes (NumPy scalars/arrays included) and
``_init_args``/``_init_kwargs``. Tensors are pickled by torch's own reducers (``_rebuild_tensor_v2`` over a storage
serialised with ``torch.storage._load_from_bytes``). Config dicts are ``dnnlib.util.EasyDict``.
"""

from __future__ import annotations

import collections
import pickle
import sys
import types

import numpy as np
import torch
import torch.nn as nn

PERSISTENCE_VERSION = 6


def _fake_module(name: str, **attrs) -> types.ModuleType:
    mod = types.ModuleType(name)
    for k, v in attrs.items():
        v.__module__ = name
        v.__qualname__ = k
        setattr(mod, k, v)
    return mod


def _reconstruct_persistent_obj(meta):  # what the original does: exec(meta['module_src']) -- never called here
    raise AssertionError("the test pickler's reconstructor must never run")


class EasyDict(dict):
    pass


class Persistent:
    """Pickles exactly like a torch_utils.persistence object."""

    def __init__(self, class_name: str, state: dict, module_src: str):
        self.meta = dict(type="class", version=PERSISTENCE_VERSION, module_src=module_src, class_name=class_name,
                         state=state)

    def __reduce__(self):
        return (_reconstruct_persistent_obj, (self.meta,))


def module_record(module: nn.Module, *, module_src: str, init_kwargs: dict | None = None) -> Persistent:
    """The persistent-object view of ``module`` (recursively), with the state layout of a torch 1.x nn.Module."""
    children = collections.OrderedDict(
        (name, module_record(child, module_src=module_src)) for name, child in module._modules.items())
    state = {
        "training": False,
        "_parameters": collections.OrderedDict((k, None if v is None else nn.Parameter(v.detach().clone(), requires_grad=True))
                                               for k, v in module._parameters.items()),
        "_buffers": collections.OrderedDict((k, None if v is None else v.detach().clone())
                                            for k, v in module._buffers.items()),
        "_non_persistent_buffers_set": set(),
        "_backward_hooks": collections.OrderedDict(),
        "_forward_hooks": collections.OrderedDict(),
        "_forward_pre_hooks": collections.OrderedDict(),
        "_state_dict_hooks": collections.OrderedDict(),
        "_load_state_dict_pre_hooks": collections.OrderedDict(),
        "_modules": children,
        "_init_args": (),
        "_init_kwargs": EasyDict(init_kwargs or {}),
    }
    # Plain attributes as the original keeps them, NumPy types included.
    for attr in ("weight_gain", "bias_gain", "size", "in_size", "out_size", "in_cutoff", "padding"):
        if hasattr(module, attr):
            v = getattr(module, attr)
            state[attr] = np.float64(v) if isinstance(v, float) else v
    return Persistent(type(module).__name__, state, module_src)


def dump_nvidia_pickle(path, data: dict) -> None:
    """Pickle ``data`` with ``torch_utils.persistence`` / ``dnnlib.util`` resolved to stand-in modules."""
    fakes = {"torch_utils": types.ModuleType("torch_utils"),
             "torch_utils.persistence": _fake_module("torch_utils.persistence",
                                                     _reconstruct_persistent_obj=_reconstruct_persistent_obj),
             "dnnlib": types.ModuleType("dnnlib"),
             "dnnlib.util": _fake_module("dnnlib.util", EasyDict=EasyDict)}
    saved = {k: sys.modules.get(k) for k in fakes}
    sys.modules.update(fakes)
    try:
        with open(path, "wb") as f:
            pickle.dump(data, f, protocol=3)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
        EasyDict.__module__ = __name__
        EasyDict.__qualname__ = "EasyDict"


def randomize_(module: nn.Module, generator: torch.Generator) -> None:
    """Give every parameter random values (so no layer is at an identity-like init) and every magnitude EMA a
    random positive value; filters and other buffers keep their designed values."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * (0.5 if p.ndim <= 1 else 1.0))
        for name, b in module.named_buffers():
            if name.endswith("magnitude_ema"):
                b.fill_(float(torch.rand([], generator=generator)) + 0.5)
            elif name.endswith("w_avg") or name.endswith("noise_const"):
                b.copy_(torch.randn(b.shape, generator=generator))
