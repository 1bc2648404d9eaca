"""The study's models behind one registry: `create_model(name)`, `list_models()`."""

from mestudio.analysis.models.registry import ModelConfig, create_model, list_models, model_config, register_model

__all__ = ["ModelConfig", "create_model", "list_models", "model_config", "register_model"]
