"""The model registry: a decorator registers a factory with a small config; `create_model(name)`.

@register_model(ModelConfig("res3d18", family="res3d", description="3D ResNet-18"))
def res3d18(num_classes: int = 5, **kw) -> nn.Module: ...

model = create_model("res3d18", num_classes=8)

This module imports no model: the models register themselves when `mestudio.analysis.models` (the
package, which imports every model module) is imported, as any import of this module does first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mestudio.analysis.datasets.errors import UnknownModelError


@dataclass(frozen=True)
class ModelConfig:
    """What a registered model is and what input it expects."""

    name: str
    family: str  # "lbptop", "res3d", "res3d_sca", "au_graph", "ccdn"
    description: str
    frames: int = 10  # TIM length of the input clip
    size: int = 112  # input crop (frames are size x size)
    in_channels: int = 1  # grayscale, as the study's frontal 2D videos
    small: bool = False  # a CPU-sized variant
    trainable: str = "sgd"  # "sgd" (torch) or "svm" (features + linear SVM)
    defaults: dict[str, Any] = field(default_factory=dict)
    views: int = 0  # 0: a clip model (B, C, T, S, S); >0: 4D views model (B, views, C, S, S)

    def input_shape(self, batch: int = 1, size: int | None = None, frames: int | None = None) -> tuple[int, ...]:
        """The shape of a batch this model takes."""
        s = size or self.size
        if self.views:
            return (batch, self.views, self.in_channels, s, s)
        return (batch, self.in_channels, frames or self.frames, s, s)


_REGISTRY: dict[str, tuple[ModelConfig, Callable[..., Any]]] = {}


def register_model(config: ModelConfig) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        if config.name in _REGISTRY:
            raise ValueError(f"model {config.name!r} registered twice")
        _REGISTRY[config.name] = (config, fn)
        return fn

    return deco


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def model_config(name: str) -> ModelConfig:
    try:
        return _REGISTRY[name][0]
    except KeyError:
        raise UnknownModelError(f"unknown model {name!r}; choose one of {', '.join(sorted(_REGISTRY))}") from None


def create_model(name: str, **kwargs: Any) -> Any:
    """A new model ``name`` built with its config's defaults updated by ``kwargs``."""
    cfg = model_config(name)
    fn = _REGISTRY[name][1]
    return fn(**{**cfg.defaults, **kwargs})
