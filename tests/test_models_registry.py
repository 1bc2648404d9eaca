"""Every registered model: created by name, one forward and backward pass on random input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mestudio.analysis.datasets.errors import UnknownModelError
from mestudio.analysis.models import create_model, list_models, model_config, register_model
from mestudio.analysis.models.registry import ModelConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ALL = list_models()


def test_registry_lists_the_study_models_and_small_variants():
    assert {"lbptop_svm", "res3d18", "res3d18_sca", "au_graph"} <= set(ALL)
    families = {model_config(n).family for n in ALL if model_config(n).small}
    assert families == {"lbptop", "res3d", "res3d_sca", "au_graph", "ccdn"}  # a small variant of each


def test_unknown_name_lists_the_choices():
    with pytest.raises(UnknownModelError, match="res3d18"):
        create_model("resnet9000")
    with pytest.raises(KeyError):
        create_model("resnet9000")


def test_duplicate_registration_refused():
    with pytest.raises(ValueError, match="twice"):
        register_model(ModelConfig("res3d18", "res3d", "again"))(lambda: None)


@pytest.mark.parametrize("name", [n for n in ALL if model_config(n).trainable == "sgd"])
def test_forward_backward_on_random_input(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=5)
    model.train()
    x = torch.randn(*model_config(name).input_shape(2, size=32, frames=6))  # small: the full models run too
    out = model(x)
    if model_config(name).family == "au_graph":
        au, me = out
        assert au.shape == (2, 8) and me.shape == (2, 5)
        loss = model.loss(au, me, torch.ones(2, 8), torch.zeros(2, 5), alpha=0.1)
    elif model_config(name).family == "ccdn":
        assert out.shape == (2, 5)
        loss = model.loss(x, torch.ones(2, 5))
    else:
        assert out.shape == (2, 5)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(out, torch.ones(2, 5))
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0


@pytest.mark.parametrize("name", [n for n in ALL if model_config(n).trainable == "svm"])
def test_svm_models_fit_and_predict_random_clips(name):
    rng = np.random.default_rng(0)
    clips = [rng.integers(0, 255, (6, 40, 40)).astype(np.uint8) for _ in range(8)]
    y = np.array([[i % 2, 1 - i % 2, 1] for i in range(8)])
    model = create_model(name, num_classes=3).fit(clips, y)
    assert model.predict(clips).shape == (8, 3)
    assert (model.predict(clips)[:, 2] == 1).all()  # a class always present in training
    assert (model.predict(clips)[:, :2] == y[:, :2]).all()  # separable training set is fitted


def test_res3d18_is_resnet18_sized():
    n = sum(p.numel() for p in create_model("res3d18", num_classes=5).parameters())
    assert 33_000_000 < n < 33_300_000  # the 3D ResNet-18 of Hara et al. has 33.2 M
    tiny = sum(p.numel() for p in create_model("res3d18_tiny", num_classes=5).parameters())
    assert tiny < n / 50


def test_the_registry_imports_no_model_and_the_package_imports_every_one():
    import ast

    from tests.conftest import ROOT

    folder = ROOT / "analysis" / "models"

    def imported(path) -> set[str]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        out = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                out |= {f"{node.module}.{a.name}" for a in node.names} | {node.module}
            elif isinstance(node, ast.Import):
                out |= {a.name for a in node.names}
        return out

    models = {p.stem for p in folder.glob("*.py")} - {"__init__", "registry"}
    assert not {m for m in imported(folder / "registry.py") if m.startswith("mestudio.analysis.models")}
    assert {f"mestudio.analysis.models.{m}" for m in models} <= imported(folder / "__init__.py")


def test_ccdn_is_one_googlenet_per_profile_fused_by_mean_probability():
    from mestudio.analysis.models.googlenet import GoogLeNet

    torch.manual_seed(0)
    model = create_model("ccdn", num_classes=5).eval()
    one = sum(p.numel() for p in GoogLeNet(num_classes=5, in_channels=3).parameters())
    assert sum(p.numel() for p in model.parameters()) == 3 * one
    assert 5_500_000 < one < 5_700_000  # Inception-v1 without its 1000-class head and aux classifiers
    x = torch.randn(2, 3, 3, 48, 48)
    with torch.no_grad():
        views = model.view_logits(x)
        fused = model(x)
        alone = model.nets[1](x[:, 1])  # the front view's network on its own input
    assert views.shape == (2, 3, 5)
    assert torch.allclose(views[:, 1], alone, atol=1e-5)
    assert torch.allclose(torch.sigmoid(fused), torch.sigmoid(views).mean(1), atol=1e-5)
    with pytest.raises(ValueError, match="3 views"):
        model(torch.randn(2, 1, 6, 32, 32))
