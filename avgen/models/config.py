"""How every avgen model takes its configuration: ``Model(config)`` or ``Model(**fields)``."""

from __future__ import annotations

__all__ = ["resolve_config"]


def resolve_config(config_class: type, config, overrides: dict):
    """A model's config: ``config`` as given, or ``config_class(**overrides)`` (the defaults with some fields
    changed)."""
    if config is not None and overrides:
        raise TypeError(f"pass a {config_class.__name__} or its fields as keywords, not both")
    if config is not None and not isinstance(config, config_class):
        raise TypeError(f"config must be a {config_class.__name__}, got {type(config).__name__}")
    return config if config is not None else config_class(**overrides)
