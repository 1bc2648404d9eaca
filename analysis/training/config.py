"""Training settings, defaulting to the study's: SGD, weight decay 0.001, lr 0.01 divided by 10
every 40 epochs up to 80; AU-graph's loss weight alpha 1.0 divided by 10 every 30 of 90 epochs."""

from __future__ import annotations

from dataclasses import asdict, dataclass

INPUTS = ("frames", "onset_diff")


@dataclass
class TrainConfig:
    epochs: int = 80
    lr: float = 0.01
    lr_step: int | None = None  # epochs between lr/10; None: epochs // 2 (40 of 80)
    momentum: float = 0.9
    weight_decay: float = 0.001
    batch_size: int = 8
    seed: int = 0
    frames: int = 10  # TIM length
    size: int | None = None  # crop side; None: the model's (112, or 64 for tiny)
    alpha_every: int | None = None  # AU-graph: epochs between alpha/10; None: epochs // 3
    threshold: float = 0.5  # probability above which a class is detected
    # "frames" (the study); "onset_diff": every frame minus the clip's first (onset) frame, which
    # leaves only the motion: who the face belongs to drops out
    input: str = "frames"
    balance: bool = False  # weigh each class's positives by negatives/positives
    magnify: float = 0.0  # Eulerian magnification factor before TIM; 0: off (the study's default)
    fps: float = 200.0  # frame rate of the clips (CASME II and SAMM: 200), for magnification
    threads: int | None = None  # torch CPU threads; None: torch's default
    device: str = "cpu"  # "cuda" on a GPU machine; models come back on the CPU

    def __post_init__(self) -> None:
        if self.input not in INPUTS:
            raise ValueError(f"input {self.input!r}: use one of {INPUTS}")

    def step_every(self) -> int:
        return max(1, self.lr_step if self.lr_step else self.epochs // 2)

    def alpha_step(self) -> int:
        return max(1, self.alpha_every if self.alpha_every else self.epochs // 3)

    def to_dict(self) -> dict:
        return asdict(self)
