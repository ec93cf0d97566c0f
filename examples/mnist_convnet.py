"""The classic PyTorch MNIST convnet, trained with disttensor on the CPU.

Data: MNIST IDX files when --data-dir holds them (MNIST/raw/train-images-idx3-ubyte[.gz] ...), else
scikit-learn's bundled handwritten digits upsampled to 28x28 (a real data set that needs no download).

    .venv/bin/python examples/mnist_convnet.py                 # about a minute on 2 cores
    .venv/bin/python examples/mnist_convnet.py --epochs 5 --save-model
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import disttensor as torch  # noqa: E402
import disttensor.nn.functional as F  # noqa: E402
from disttensor.optim.lr_scheduler import StepLR  # noqa: E402
from disttensor.utils.data import DataLoader  # noqa: E402
from disttensor.vision import datasets, transforms  # noqa: E402
from models import mnist_convnet  # noqa: E402


def load_data(data_dir):
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    if data_dir:
        try:
            return (datasets.MNIST(data_dir, train=True, transform=tf),
                    datasets.MNIST(data_dir, train=False, transform=tf), "MNIST")
        except (FileNotFoundError, RuntimeError) as e:
            print(f"MNIST not found ({e}); using the bundled digits instead")
    return (datasets.DigitsDataset(train=True, transform=tf), datasets.DigitsDataset(train=False, transform=tf),
            "scikit-learn digits (28x28)")


def train(model, loader, optimizer, epoch, progress):
    model.train()
    try:
        from tqdm import tqdm
        loader = tqdm(loader, desc=f"epoch {epoch}", disable=not progress, leave=False)
    except ImportError:
        pass
    total, n = 0.0, 0
    for data, target in loader:
        optimizer.zero_grad()
        loss = F.nll_loss(model(data), target)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(target)
        n += len(target)
        if hasattr(loader, "set_postfix"):
            loader.set_postfix(loss=f"{loss.item():.3f}")
    return total / n


@torch.no_grad()
def evaluate(model, loader):
    model.eval()
    loss, correct, n = 0.0, 0, 0
    for data, target in loader:
        out = model(data)
        loss += F.nll_loss(out, target, reduction="sum").item()
        correct += (out.argmax(dim=1) == target).sum().item()
        n += len(target)
    return loss / n, correct / n


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--test-batch-size", type=int, default=500)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--lr", type=float, default=1.0)
    p.add_argument("--gamma", type=float, default=0.7)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--data-dir", default=os.environ.get("MNIST_DIR"))
    p.add_argument("--num-workers", type=int, default=0)
    p.add_argument("--save-model", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args()

    torch.manual_seed(args.seed)
    train_set, test_set, name = load_data(args.data_dir)
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, num_workers=args.num_workers)
    test_loader = DataLoader(test_set, batch_size=args.test_batch_size)
    model = mnist_convnet(torch)
    optimizer = torch.optim.Adadelta(model.parameters(), lr=args.lr)
    scheduler = StepLR(optimizer, step_size=1, gamma=args.gamma)
    print(f"training the MNIST convnet on {name}: {len(train_set)} train / {len(test_set)} test images")
    t0 = time.time()
    for epoch in range(1, args.epochs + 1):
        train_loss = train(model, train_loader, optimizer, epoch, not args.no_progress)
        test_loss, acc = evaluate(model, test_loader)
        print(f"epoch {epoch}: train loss {train_loss:.4f}  test loss {test_loss:.4f}  test accuracy {acc:.2%}")
        scheduler.step()
    if args.save_model:
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": args.epochs},
                   "mnist_cnn.dtpt")
        print("saved mnist_cnn.dtpt")
    print(f"final: test accuracy {acc:.2%}, test loss {test_loss:.4f} after {args.epochs} epochs "
          f"in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
