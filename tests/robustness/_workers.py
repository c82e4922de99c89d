"""Decode functions for ``prepare(_decode=...)`` in the kill tests; importable by the spawned workers."""

from __future__ import annotations

import os
import signal
import time

from avgen.data.prepare import _decode_item


def decode_or_die(path, settings, frame_size):
    """SIGKILL this worker on any file whose name holds 'oom', as the out-of-memory killer would."""
    if "oom" in os.path.basename(path):
        os.kill(os.getpid(), signal.SIGKILL)
    return _decode_item(path, settings, frame_size)


def slow_decode(path, settings, frame_size):
    """The real decode, 0.4 s slower: a run lasts long enough to be killed in the middle."""
    time.sleep(0.4)
    return _decode_item(path, settings, frame_size)
