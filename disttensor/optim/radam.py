from .adam import RAdam  # noqa: F401  (module path as in PyTorch: torch.optim.radam.RAdam)
