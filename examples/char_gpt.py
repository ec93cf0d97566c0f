"""Train a small character-level GPT on the standard library's docstrings, then sample from it.

    .venv/bin/python examples/char_gpt.py            # about a minute on 2 cores
    .venv/bin/python examples/char_gpt.py --steps 2000 --d-model 256
"""
import argparse
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import disttensor as torch  # noqa: E402
from models import gpt  # noqa: E402
from text_data import load_corpus, CharVocab  # noqa: E402


def get_batch(data, block, batch, gen):
    ix = torch.randint(0, len(data) - block - 1, (batch,), generator=gen)
    x = torch.stack([data[i:i + block] for i in ix.tolist()])
    y = torch.stack([data[i + 1:i + 1 + block] for i in ix.tolist()])
    return x, y


@torch.no_grad()
def estimate_loss(model, data, block, batch, gen, iters=5):
    model.eval()
    losses = [model(*get_batch(data, block, batch, gen))[1].item() for _ in range(iters)]
    model.train()
    return sum(losses) / len(losses)


@torch.no_grad()
def sample(model, vocab, prompt, n, block):
    model.eval()
    idx = torch.tensor([vocab.encode(prompt)])
    for _ in range(n):
        logits, _ = model(idx[:, -block:])
        probs = torch.softmax(logits[:, -1, :] / 0.8, dim=-1)
        nxt = torch.multinomial(probs, 1)
        idx = torch.cat([idx, nxt], dim=1)
    return vocab.decode(idx[0].tolist())


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--block-size", type=int, default=64)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--n-layer", type=int, default=2)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args()

    torch.manual_seed(args.seed)
    text = load_corpus()
    vocab = CharVocab(text)
    data = torch.tensor(vocab.encode(text), dtype=torch.long)
    n = int(0.9 * len(data))
    train, val = data[:n], data[n:]
    model = gpt(torch, len(vocab), d_model=args.d_model, n_head=args.n_head, n_layer=args.n_layer,
                block_size=args.block_size)
    print(f"char GPT: {sum(p.numel() for p in model.parameters()):,} parameters, vocab {len(vocab)}, "
          f"{len(train):,} training characters")
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps, pct_start=0.1)
    gen = torch.Generator().manual_seed(args.seed)
    try:
        from tqdm import tqdm
        bar = tqdm(range(args.steps), disable=args.no_progress, desc="train")
    except ImportError:
        bar = range(args.steps)
    t0 = time.time()
    for step in bar:
        x, y = get_batch(train, args.block_size, args.batch_size, gen)
        _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if hasattr(bar, "set_postfix") and step % 10 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}")
    val_loss = estimate_loss(model, val, args.block_size, args.batch_size, gen)
    print("sample:", repr(sample(model, vocab, "The ", 80, args.block_size)))
    print(f"final: val loss {val_loss:.3f} (perplexity {math.exp(val_loss):.2f}, uniform would be "
          f"{math.log(len(vocab)):.3f}) after {args.steps} steps in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
