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


def test_gpt_training_matches_torch_step_for_step():
    """The char-GPT stack (embeddings, tied head, causal sdpa, layer norm, GELU, AdamW, OneCycleLR,
    clip_grad_norm_) against PyTorch: same weights, same batches, same losses for 8 steps."""
    pt = pytest.importorskip("torch")
    from models import gpt
    pt.manual_seed(0)
    ref = gpt(pt, 50, d_model=32, n_head=4, n_layer=2, block_size=16).double()
    ours = gpt(torch, 50, d_model=32, n_head=4, n_layer=2, block_size=16).double()
    ours.load_state_dict({k: torch.tensor(v.detach().numpy()) for k, v in ref.state_dict().items()})
    assert ours.head.weight is ours.tok.weight
    opts = []
    for lib, m in ((pt, ref), (torch, ours)):
        opt = lib.optim.AdamW(m.parameters(), lr=1e-2, weight_decay=0.01)
        sched = lib.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-2, total_steps=8, pct_start=0.25)
        opts.append((opt, sched))
    rng = np.random.default_rng(0)
    for step in range(8):
        x = rng.integers(0, 50, (4, 16))
        y = rng.integers(0, 50, (4, 16))
        losses = []
        for (lib, m), (opt, sched) in zip(((pt, ref), (torch, ours)), opts):
            _, loss = m(lib.tensor(x), lib.tensor(y))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            lib.nn.utils.clip_grad_norm_(m.parameters(), 0.5)
            opt.step()
            sched.step()
            losses.append(loss.item())
        np.testing.assert_allclose(losses[1], losses[0], rtol=1e-9, err_msg=f"step {step}")
    for k, v in ref.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[k].numpy(), v.numpy(), rtol=1e-7, atol=1e-9, err_msg=k)
