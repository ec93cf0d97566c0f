from .adagrad import Adadelta  # noqa: F401  (module path as in PyTorch: torch.optim.adadelta.Adadelta)
