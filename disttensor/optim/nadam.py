from .adam import NAdam  # noqa: F401  (module path as in PyTorch: torch.optim.nadam.NAdam)
