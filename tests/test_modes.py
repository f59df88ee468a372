"""``in_mode``: sets train/eval for a block and restores every submodule's own flag, including modules that
override ``train()``."""
from torch import nn

from autotelic.modes import evaluating, in_mode, training


def _net() -> nn.Module:
    net = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5), nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.1)))
    net[2].eval()  # a submodule kept in eval mode on purpose
    return net


def test_evaluating_then_restores_each_flag():
    net = _net()
    before = [m.training for m in net.modules()]
    with evaluating(net):
        assert not any(m.training for m in net.modules())
    assert [m.training for m in net.modules()] == before
    with training(net):
        assert all(m.training for m in net.modules())
    assert [m.training for m in net.modules()] == before


class Frozen(nn.Module):
    """Overrides train(): stays in eval mode whatever it is asked (as e.g. a frozen encoder would)."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(2, 2)
        self.calls = 0

    def train(self, mode: bool = True):
        self.calls += 1
        return super().train(False)


def test_a_module_overriding_train_is_called():
    net = nn.Sequential(nn.Linear(2, 2), Frozen())
    with in_mode(True, net):
        assert net[0].training and not net[1].training and not net[1].lin.training
    assert net[1].calls == 1
