from .adam import Adamax  # noqa: F401  (module path as in PyTorch: torch.optim.adamax.Adamax)
