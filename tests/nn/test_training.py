"""Several optimizer steps on small models, disttensor vs PyTorch from the same weights and data:
every parameter and buffer must stay equal (float64). Exercises modules, losses, clip_grad and optim."""
import numpy as np
import pytest
import torch

import disttensor as dt
from tests.nn.helpers import copy_weights, assert_close


def _convnet(L):
    nn = L.nn
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(4 * 4 * 4, 16), nn.Dropout(0.0), nn.GELU(), nn.Linear(16, 3))


def _lstm_lm(L):
    nn = L.nn

    class LM(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(11, 6)
            self.rnn = nn.LSTM(6, 8, num_layers=2, batch_first=True)
            self.norm = nn.LayerNorm(8)
            self.out = nn.Linear(8, 11)

        def forward(self, x):
            h, _ = self.rnn(self.emb(x))
            return self.out(self.norm(h))
    return LM()


@pytest.mark.parametrize("which", ["convnet_sgd", "lstm_adamw"])
def test_training_steps_match_torch(which):
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    if which == "convnet_sgd":
        ref = _convnet(torch).double()
        ours = _convnet(dt).double()
        make_opt = lambda L, m: L.optim.SGD(m.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3,  # noqa: E731
                                            nesterov=True)
        data = [(rng.standard_normal((6, 1, 8, 8)), rng.integers(0, 3, 6)) for _ in range(4)]
    else:
        ref = _lstm_lm(torch).double()
        ours = _lstm_lm(dt).double()
        make_opt = lambda L, m: L.optim.AdamW(m.parameters(), lr=1e-2, weight_decay=0.1)  # noqa: E731
        data = [(rng.integers(0, 11, (3, 7)), rng.integers(0, 11, (3, 7))) for _ in range(4)]
    copy_weights(ours, ref)
    topt, oopt = make_opt(torch, ref), make_opt(dt, ours)
    for x, y in data:
        for L, m, opt in ((torch, ref, topt), (dt, ours, oopt)):
            opt.zero_grad()
            out = m(L.tensor(x))
            loss = L.nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), L.tensor(y).reshape(-1))
            loss.backward()
            L.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
            opt.step()
    for (k, a), (_, b) in zip(ours.state_dict().items(), ref.state_dict().items()):
        assert_close(a, b, 1e-8, 1e-10, k)
