"""AU-graph (the study's section 5.3.2): Res3D+SCA detects AUs; the detected AU probabilities are
the nodes of a one-layer GCN whose adjacency comes from how often AUs co-occur in the training
labels; the GCN's output gives the emotions. Trained on both tasks with

    L = alpha * L_AU + (1.1 - alpha) * L_ME,   alpha = 1.0, divided by 10 every 30 epochs (90 in all)

so that the first epochs learn the AUs and the later ones the emotions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from mestudio.analysis.models.registry import ModelConfig, register_model
from mestudio.analysis.models.res3d import FULL, TINY
from mestudio.analysis.models.sca import Res3DSCA


def cooccurrence_adjacency(au_labels: np.ndarray, tau: float = 0.3, p: float = 0.25) -> np.ndarray:
    """Data-driven adjacency (ML-GCN style): A_ij = P(AU j | AU i) binarised at ``tau``, then
    re-weighted so each node keeps weight 1 - p on itself and p spread over its neighbours."""
    y = np.asarray(au_labels, np.float64)
    n = y.shape[1]
    counts = y.sum(axis=0)
    co = y.T @ y
    cond = np.divide(co, counts[:, None], out=np.zeros((n, n)), where=counts[:, None] > 0)
    np.fill_diagonal(cond, 0.0)
    a = (cond >= tau).astype(np.float64)
    deg = a.sum(axis=1, keepdims=True)
    a = np.divide(a * p, deg, out=np.zeros_like(a), where=deg > 0)
    a[np.arange(n), np.arange(n)] = np.where(deg[:, 0] > 0, 1.0 - p, 1.0)
    return a.astype(np.float32)


def loss_weight(epoch: int, start: float = 1.0, every: int = 30, factor: float = 10.0) -> float:
    """alpha at ``epoch`` (0-based): 1.0 for epochs 0-29, 0.1 for 30-59, 0.01 for 60-89."""
    return start / factor ** (epoch // every)


class AUGraph(nn.Module):
    """forward(x) -> (AU logits (B, n_aus), emotion logits (B, n_emotions))."""

    def __init__(
        self,
        num_classes: int = 5,
        num_aus: int = 8,
        in_channels: int = 1,
        widths: Sequence[int] = FULL,
        node_dim: int = 32,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self.detector = Res3DSCA(num_aus, in_channels, widths, dropout)
        self.node_embed = nn.Parameter(torch.randn(num_aus, node_dim))
        self.gcn = nn.Linear(node_dim, node_dim)
        self.head = nn.Linear(num_aus * node_dim, num_classes)
        # starts as the identity graph until set_adjacency gives the training labels' one
        self.adjacency: torch.Tensor
        self.register_buffer("adjacency", torch.eye(num_aus))

    def set_adjacency(self, au_labels: np.ndarray) -> None:
        self.adjacency.copy_(torch.from_numpy(cooccurrence_adjacency(au_labels)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        au_logits = self.detector(x)
        nodes = torch.sigmoid(au_logits).unsqueeze(2) * self.node_embed  # (B, n_aus, d)
        h = torch.relu(self.gcn(self.adjacency @ nodes))  # one GCN layer
        return au_logits, self.head(h.flatten(1))

    @staticmethod
    def loss(
        au_logits: torch.Tensor,
        me_logits: torch.Tensor,
        au_target: torch.Tensor,
        me_target: torch.Tensor,
        alpha: float,
        me_pos_weight: torch.Tensor | None = None,
        au_pos_weight: torch.Tensor | None = None,
    ) -> torch.Tensor:
        bce = nn.functional.binary_cross_entropy_with_logits
        l_au = bce(au_logits, au_target.float(), pos_weight=au_pos_weight)
        return alpha * l_au + (1.1 - alpha) * bce(me_logits, me_target.float(), pos_weight=me_pos_weight)


@register_model(ModelConfig("au_graph", "au_graph", "Res3D+SCA AU detector feeding a one-layer AU GCN (AU-graph)"))
def au_graph(num_classes: int = 5, num_aus: int = 8, in_channels: int = 1, **kw) -> AUGraph:
    return AUGraph(num_classes, num_aus, in_channels, FULL, **kw)


@register_model(
    ModelConfig("au_graph_tiny", "au_graph", "AU-graph on the 1/8-width Res3D+SCA, for CPU", size=64, small=True)
)
def au_graph_tiny(num_classes: int = 5, num_aus: int = 8, in_channels: int = 1, **kw) -> AUGraph:
    return AUGraph(num_classes, num_aus, in_channels, TINY, node_dim=8, **kw)
