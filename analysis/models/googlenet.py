"""A compact GoogLeNet (Inception-v1, Szegedy et al. 2015) written here in plain torch:
torchvision cannot be installed beside torch 2.13.0 on these machines.

Same layout as the paper's Table 1: 7x7/2 stem, max-pool, 1x1 and 3x3 convolutions, max-pool,
inception 3a-3b, max-pool, 4a-4e, max-pool, 5a-5b, global average pooling, dropout 0.4, one
linear layer. Differences, on purpose: batch normalisation after every convolution (as
torchvision's port does; it trains from scratch without the paper's auxiliary classifiers,
which are left out), max-pools padded by 1 so that small inputs (24 px) still reach the last
stage, and ``width`` scales every channel count (1.0 is the paper's network,
1/8 the CPU-sized one). No pretrained weights: nothing is downloaded.
"""

from __future__ import annotations

import torch
from torch import nn

# (1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj) of each inception module, paper's Table 1
INCEPTION = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}
POOL_AFTER = ("3b", "4e")  # max-pool 3x3/2 between stages


def _conv(cin: int, cout: int, k: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True))


class Inception(nn.Module):
    def __init__(self, cin: int, c1: int, r3: int, c3: int, r5: int, c5: int, cp: int) -> None:
        super().__init__()
        self.b1 = _conv(cin, c1, 1)
        self.b3 = nn.Sequential(_conv(cin, r3, 1), _conv(r3, c3, 3))
        self.b5 = nn.Sequential(_conv(cin, r5, 1), _conv(r5, c5, 3))  # 3x3 in place of 5x5, as torchvision
        self.bp = nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True), _conv(cin, cp, 1))
        self.out_channels = c1 + c3 + c5 + cp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b1(x), self.b3(x), self.b5(x), self.bp(x)], 1)


class GoogLeNet(nn.Module):
    """(B, in_channels, H, W) -> (B, num_classes) logits; ``features`` gives the pooled vector."""

    def __init__(self, num_classes: int = 5, in_channels: int = 3, width: float = 1.0, dropout: float = 0.4) -> None:
        super().__init__()

        def w(c: int) -> int:
            return max(4, int(round(c * width)))

        self.stem = nn.Sequential(
            _conv(in_channels, w(64), 7, 2),
            nn.MaxPool2d(3, 2, 1),
            _conv(w(64), w(64), 1),
            _conv(w(64), w(192), 3),
            nn.MaxPool2d(3, 2, 1),
        )
        blocks: list[nn.Module] = []
        cin = w(192)
        for name, cfg in INCEPTION.items():
            block = Inception(cin, *(w(c) for c in cfg))
            blocks.append(block)
            cin = block.out_channels
            if name in POOL_AFTER:
                blocks.append(nn.MaxPool2d(3, 2, 1))
        self.blocks = nn.Sequential(*blocks)
        self.out_channels = cin
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.blocks(self.stem(x))).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(self.features(x)))
