"""CCDN, the study's 4D model (section 5.2; Behzad et al., BMVC 2019, the study's [21]): one
GoogLeNet per facial profile (left, front, right), each fed that profile's cross-domain dynamic
image: the rank-pooled DPI, E-DPI and texture sequences stacked as its three input channels.
Each view predicts on its own; the views' predictions then collaborate into the Multi-views one.

Collaboration as implemented here: the fused probability of a class is the mean of the three
views' probabilities (score-level fusion); training minimises each view's binary cross-entropy
plus the fused prediction's, so every view learns to predict alone (the single-view rows of
Tables 7-8) and the fusion is trained too. Multi-label outputs (one logit per AU or emotion),
as the 2D models.

Input: (B, views=3, domains=3, S, S) float32 dynamic images (analysis.fourd.dynamic).
"""

from __future__ import annotations

from typing import TypedDict

import torch
from torch import nn

from mestudio.analysis.models.googlenet import GoogLeNet
from mestudio.analysis.models.registry import ModelConfig, register_model

VIEWS = ("Left", "Front", "Right")  # the order of analysis.fourd.views.PROFILES


class CCDN(nn.Module):
    def __init__(
        self, num_classes: int = 5, in_channels: int = 3, views: int = 3, width: float = 1.0, dropout: float = 0.4
    ) -> None:
        super().__init__()
        self.nets = nn.ModuleList(GoogLeNet(num_classes, in_channels, width, dropout) for _ in range(views))

    def view_logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, V, C, S, S) -> (B, V, classes): each profile's own prediction."""
        if x.ndim != 5 or x.shape[1] != len(self.nets):
            raise ValueError(f"CCDN wants (batch, {len(self.nets)} views, domains, S, S), got {tuple(x.shape)}")
        return torch.stack([net(x[:, i]) for i, net in enumerate(self.nets)], 1)

    @staticmethod
    def fuse(view_logits: torch.Tensor) -> torch.Tensor:
        """Multi-views logits: the logit of the views' mean probability."""
        p = torch.sigmoid(view_logits).mean(1).clamp(1e-6, 1 - 1e-6)
        return torch.log(p) - torch.log1p(-p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fuse(self.view_logits(x))

    def loss(self, x: torch.Tensor, target: torch.Tensor, pos_weight: torch.Tensor | None = None) -> torch.Tensor:
        bce = nn.functional.binary_cross_entropy_with_logits
        v = self.view_logits(x)
        t = target.float()
        per_view = sum(bce(v[:, i], t, pos_weight=pos_weight) for i in range(v.shape[1]))
        return per_view + bce(self.fuse(v), t, pos_weight=pos_weight)


class _CCDNFields(TypedDict):
    family: str
    views: int
    in_channels: int
    frames: int


_CCDN: _CCDNFields = {"family": "ccdn", "views": 3, "in_channels": 3, "frames": 12}


@register_model(ModelConfig("ccdn", description="CCDN: a GoogLeNet per profile, fused (the study's 4D model)", **_CCDN))
def ccdn(num_classes: int = 5, in_channels: int = 3, **kw) -> CCDN:
    return CCDN(num_classes, in_channels, 3, 1.0, **kw)


@register_model(
    ModelConfig("ccdn_tiny", description="CCDN with GoogLeNets at 1/8 width, for CPU", size=48, small=True, **_CCDN)
)
def ccdn_tiny(num_classes: int = 5, in_channels: int = 3, **kw) -> CCDN:
    return CCDN(num_classes, in_channels, 3, 0.125, **kw)
