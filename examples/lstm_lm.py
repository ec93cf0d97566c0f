"""Train a character-level LSTM language model on the standard library's docstrings.

    .venv/bin/python examples/lstm_lm.py             # about a minute on 2 cores
"""
import argparse
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import disttensor as torch  # noqa: E402
import disttensor.nn.functional as F  # noqa: E402
from models import lstm_lm  # noqa: E402
from text_data import load_corpus, CharVocab  # noqa: E402


def batches(data, batch, bptt):
    """Contiguous streams per batch row, as in PyTorch's word_language_model example."""
    nb = len(data) // batch
    streams = data[:nb * batch].view(batch, nb)
    for i in range(0, nb - 1 - bptt, bptt):
        yield streams[:, i:i + bptt], streams[:, i + 1:i + 1 + bptt]


def evaluate(model, data, batch, bptt, max_batches=20):
    model.eval()
    total, count, state = 0.0, 0, None
    with torch.no_grad():
        for k, (x, y) in enumerate(batches(data, batch, bptt)):
            if k == max_batches:
                break
            out, state = model(x, state)
            total += F.cross_entropy(out.reshape(-1, out.size(-1)), y.reshape(-1)).item()
            count += 1
    model.train()
    return total / max(count, 1)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--bptt", type=int, default=32)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args()

    torch.manual_seed(args.seed)
    text = load_corpus()
    vocab = CharVocab(text)
    data = torch.tensor(vocab.encode(text), dtype=torch.long)
    n = int(0.9 * len(data))
    train, val = data[:n], data[n:]
    model = lstm_lm(torch, len(vocab), hidden=args.hidden, layers=args.layers, dropout=0.0)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    print(f"LSTM LM: {sum(p.numel() for p in model.parameters()):,} parameters, vocab {len(vocab)}")
    try:
        from tqdm import tqdm
        bar = tqdm(total=args.steps, disable=args.no_progress, desc="train")
    except ImportError:
        bar = None
    t0 = time.time()
    step, state = 0, None
    while step < args.steps:
        for x, y in batches(train, args.batch_size, args.bptt):
            if state is not None:  # truncated backpropagation through time
                state = tuple(s.detach() for s in state)
            out, state = model(x, state)
            loss = F.cross_entropy(out.reshape(-1, out.size(-1)), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
            opt.step()
            step += 1
            if bar is not None:
                bar.update(1)
                if step % 10 == 0:
                    bar.set_postfix(loss=f"{loss.item():.3f}")
            if step >= args.steps:
                break
    if bar is not None:
        bar.close()
    val_loss = evaluate(model, val, args.batch_size, args.bptt)
    print(f"final: val loss {val_loss:.3f} (perplexity {math.exp(val_loss):.2f}, uniform would be "
          f"{math.log(len(vocab)):.3f}) after {step} steps in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
