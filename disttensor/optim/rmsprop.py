from .adagrad import RMSprop  # noqa: F401  (module path as in PyTorch: torch.optim.rmsprop.RMSprop)
