"""Checkpoints: one .pt file holding the model name and arguments, the label set, the training
config, the weights and where they came from. Loaded with ``weights_only=True`` (no pickle code).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from mestudio.analysis.datasets.errors import CheckpointError
from mestudio.analysis.models.registry import create_model

FORMAT = "mestudio-model"
VERSION = 1


def save_checkpoint(
    path: str | Path,
    model_name: str,
    model: Any,
    model_kwargs: dict,
    task: str,
    labels: list[str],
    config: dict,
    au_labels: list[str] | None = None,
    metrics: dict | None = None,
    provenance: dict | None = None,
    half: bool = False,
) -> Path:
    """Write the checkpoint atomically; ``half`` stores float weights as float16 (shipped files)."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    blob = {
        "format": FORMAT,
        "version": VERSION,
        "model": model_name,
        "model_kwargs": model_kwargs,
        "task": task,
        "labels": list(labels),
        "au_labels": list(au_labels or []),
        "config": config,
        "metrics": metrics or {},
        "provenance": provenance or {},
        "state_dict": state,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(blob, tmp)
    tmp.replace(path)
    return path


def read_checkpoint(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint; train one with `mestudio train`")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for a bad file
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a mestudio model checkpoint; train one with `mestudio train`")
    if blob.get("version", 0) > VERSION:
        raise CheckpointError(f"{path}: checkpoint version {blob['version']} is newer than this mestudio; upgrade it")
    return blob


def load_checkpoint(path: str | Path) -> tuple[Any, dict]:
    """(model in eval mode with its weights, the checkpoint's metadata without the weights)."""
    blob = read_checkpoint(path)
    model = create_model(blob["model"], **blob["model_kwargs"])
    state = blob.pop("state_dict")
    if isinstance(model, torch.nn.Module):
        ref = model.state_dict()
        state = {k: v.to(ref[k].dtype) if k in ref else v for k, v in state.items()}
        try:
            model.load_state_dict(state)
        except RuntimeError as e:
            raise CheckpointError(f"{path}: weights do not fit model {blob['model']!r} ({str(e)[:200]})") from None
        model.eval()
    else:
        model.load_state_dict({k: v.float() for k, v in state.items()})
    return model, blob
