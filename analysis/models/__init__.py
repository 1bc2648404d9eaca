"""The study's models behind one registry: `create_model(name)`, `list_models()`.

Importing this package registers every model (timm's way): the registry module imports no model,
and each model module below registers itself with its decorator when this package imports it, so
registering never forms an import circle.  A new model module is added to the imports below.
"""

from mestudio.analysis.models import augraph, ccdn, googlenet, lbptop, res3d, sca
from mestudio.analysis.models.registry import ModelConfig, create_model, list_models, model_config, register_model

__all__ = [
    "ModelConfig",
    "create_model",
    "list_models",
    "model_config",
    "register_model",
    # the model modules (imported for their @register_model decorators)
    "augraph",
    "ccdn",
    "googlenet",
    "lbptop",
    "res3d",
    "sca",
]
