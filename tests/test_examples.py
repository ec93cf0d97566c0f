"""The examples train: the demo convnet's loss falls on real data; the language models run end to end."""
import os
import subprocess
import sys

import numpy as np
import pytest

import disttensor as torch
import disttensor.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "examples"))


def test_convnet_loss_falls_on_digits():
    from models import mnist_convnet
    from disttensor.utils.data import DataLoader
    from disttensor.vision import datasets, transforms
    torch.manual_seed(0)
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    loader = DataLoader(datasets.DigitsDataset(train=True, transform=tf), batch_size=32, shuffle=True)
    model = mnist_convnet(torch)
    opt = torch.optim.Adadelta(model.parameters(), lr=1.0)
    losses = []
    for step, (x, y) in enumerate(loader):
        opt.zero_grad()
        loss = F.nll_loss(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if step == 24:
            break
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5]), losses


@pytest.mark.timeout(240)
@pytest.mark.parametrize("script,args", [("char_gpt.py", ["--steps", "15", "--n-layer", "1"]),
                                         ("lstm_lm.py", ["--steps", "10", "--hidden", "64"]),
                                         ("mnist_convnet.py", ["--epochs", "1", "--batch-size", "256"])])
def test_example_runs_to_its_final_line(script, args):
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", script), "--no-progress", *args],
                         capture_output=True, text=True, timeout=220, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "final:" in out.stdout, out.stdout
