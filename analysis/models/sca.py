"""Res3D+SCA: Res3D with spatial and channel attention from second-order feature correlations
(Li et al., the study's reference [58]).

On a feature map X (C channels over N = T*H*W positions):
- channel attention: the channel covariance (C x C) of X; each channel's row of correlations is
  summarised by a row-wise (grouped) convolution, then a 1x1 mixing, then a sigmoid weight per
  channel (global second-order pooling);
- spatial attention: the cosine correlation (N x N) between positions of a channel-reduced X;
  each position's row of correlations gives its mean and spread, which a 3x3x3 convolution turns
  into a sigmoid weight per position.
Output: X + X * channel weights * spatial weights (residual, so attention can only add).
SCA blocks follow the last two stages, where the positions are few.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from mestudio.analysis.models.registry import ModelConfig, register_model
from mestudio.analysis.models.res3d import FULL, TINY, Res3DBackbone


class SCA(nn.Module):
    def __init__(self, channels: int, reduce: int = 8) -> None:
        super().__init__()
        c = channels
        self.row_conv = nn.Conv1d(c, 4 * c, kernel_size=c, groups=c)
        self.mix = nn.Conv1d(4 * c, c, 1)
        self.reduce = nn.Conv3d(c, max(4, c // reduce), 1)
        self.spatial = nn.Conv3d(2, 1, 3, padding=1)

    def channel_weights(self, x: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[:2]
        f = x.flatten(2)
        f = f - f.mean(dim=2, keepdim=True)
        cov = f @ f.transpose(1, 2) / max(1, f.shape[2] - 1)  # (B, C, C)
        z = self.mix(torch.relu(self.row_conv(cov)))  # (B, C, 1)
        return torch.sigmoid(z).view(b, c, 1, 1, 1)

    def spatial_weights(self, x: torch.Tensor) -> torch.Tensor:
        b, _, t, h, w = x.shape
        f = nn.functional.normalize(self.reduce(x).flatten(2), dim=1)  # (B, d, N) unit columns
        corr = f.transpose(1, 2) @ f  # (B, N, N)
        stats = torch.stack([corr.mean(dim=2), corr.std(dim=2, unbiased=False)], dim=1)
        return torch.sigmoid(self.spatial(stats.view(b, 2, t, h, w)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + x * self.channel_weights(x) * self.spatial_weights(x)


class Res3DSCA(nn.Module):
    def __init__(
        self, num_classes: int = 5, in_channels: int = 1, widths: Sequence[int] = FULL, dropout: float = 0.2
    ) -> None:
        super().__init__()
        self.backbone = Res3DBackbone(in_channels, widths)
        self.sca3 = SCA(widths[2])
        self.sca4 = SCA(widths[3])
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(widths[3], num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        bb = self.backbone
        y = bb.layer2(bb.layer1(bb.stem(x)))
        y = self.sca4(bb.layer4(self.sca3(bb.layer3(y))))
        return self.pool(y).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(self.features(x)))


@register_model(ModelConfig("res3d18_sca", "res3d_sca", "3D ResNet-18 with spatial and channel attention (Res3D+SCA)"))
def res3d18_sca(num_classes: int = 5, in_channels: int = 1, **kw) -> Res3DSCA:
    return Res3DSCA(num_classes, in_channels, FULL, **kw)


@register_model(ModelConfig("res3d18_sca_tiny", "res3d_sca", "Res3D+SCA at 1/8 width, for CPU", size=64, small=True))
def res3d18_sca_tiny(num_classes: int = 5, in_channels: int = 1, **kw) -> Res3DSCA:
    return Res3DSCA(num_classes, in_channels, TINY, **kw)
