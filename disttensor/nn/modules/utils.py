"""PyTorch's module path torch.nn.modules.utils (the classes live in _utils.py)."""
from ._utils import _single, _pair, _triple, _quadruple, _ntuple, _reverse_repeat_tuple, _list_with_default  # noqa: F401
