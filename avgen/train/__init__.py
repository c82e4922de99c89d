"""Shared training engine. Entry point: ``accelerate launch -m avgen.train --config CONFIG [key=value ...]``."""

from .config import DataConfig, OptimConfig, TrainConfig, load_config
from .engine import EMA, DatasetInfo, train
from .tasks import TASKS, Task, get_task

__all__ = ["TrainConfig", "DataConfig", "OptimConfig", "load_config", "train", "EMA", "DatasetInfo", "Task", "TASKS",
           "get_task"]
