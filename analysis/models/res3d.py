"""Res3D: a 3D ResNet-18 (Hara et al. / Tran et al. layout) over (B, C, T, H, W) clips."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from mestudio.analysis.models.registry import ModelConfig, register_model


class BasicBlock3d(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int | tuple = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm3d(cout)
        self.conv2 = nn.Conv3d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm3d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv3d(cin, cout, 1, stride, bias=False), nn.BatchNorm3d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        idt = x if self.down is None else self.down(x)
        y = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(y)) + idt)


class Res3DBackbone(nn.Module):
    """Stem + four stages of two basic blocks each; ``widths`` sets the channels per stage."""

    def __init__(
        self, in_channels: int = 1, widths: Sequence[int] = (64, 128, 256, 512), blocks: Sequence[int] = (2, 2, 2, 2)
    ) -> None:
        super().__init__()
        w0 = widths[0]
        # temporal stride 1 in the stem: ME clips are only 10 frames long
        self.stem = nn.Sequential(
            nn.Conv3d(in_channels, w0, (3, 7, 7), (1, 2, 2), (1, 3, 3), bias=False),
            nn.BatchNorm3d(w0),
            nn.ReLU(inplace=True),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)),
        )
        stages, cin = [], w0
        for i, (w, n) in enumerate(zip(widths, blocks)):
            stride = 1 if i == 0 else 2
            layers = [BasicBlock3d(cin, w, stride)] + [BasicBlock3d(w, w) for _ in range(n - 1)]
            stages.append(nn.Sequential(*layers))
            cin = w
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.out_channels = cin
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))


class Res3D(nn.Module):
    """Backbone, global average pooling, dropout, one logit per class (multi-label binary)."""

    def __init__(
        self,
        num_classes: int = 5,
        in_channels: int = 1,
        widths: Sequence[int] = (64, 128, 256, 512),
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self.backbone = Res3DBackbone(in_channels, widths)
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(self.backbone.out_channels, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.backbone(x)).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(self.features(x)))


FULL = (64, 128, 256, 512)
TINY = (8, 16, 32, 64)


@register_model(ModelConfig("res3d18", "res3d", "3D ResNet-18 (the study's Res3D)"))
def res3d18(num_classes: int = 5, in_channels: int = 1, **kw) -> Res3D:
    return Res3D(num_classes, in_channels, FULL, **kw)


@register_model(ModelConfig("res3d18_tiny", "res3d", "3D ResNet-18 layout at 1/8 width, for CPU", size=64, small=True))
def res3d18_tiny(num_classes: int = 5, in_channels: int = 1, **kw) -> Res3D:
    return Res3D(num_classes, in_channels, TINY, **kw)
