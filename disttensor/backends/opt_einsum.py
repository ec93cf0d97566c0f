"""disttensor.backends.opt_einsum: `is_available()` is False, honestly: disttensor's einsum never uses the
`opt_einsum` package, installed or not. This is PyTorch's state without opt_einsum: `enabled` is False and
setting it to True raises ValueError, `strategy` is None. Nothing is lost by it: with three or more operands
disttensor's einsum already contracts in the order of NumPy's greedy path optimizer (`numpy.einsum_path`,
shapes only), not left to right."""

from ._flags import FlagModule, install

__all__ = ["is_available", "get_opt_einsum"]

_state = {"enabled": False, "strategy": None}


def is_available():
    return False


def get_opt_einsum():
    """PyTorch returns the opt_einsum package when it uses it; disttensor never does: None."""
    return None


class _OptEinsumModule(FlagModule):
    @property
    def enabled(self):
        return _state["enabled"]

    @enabled.setter
    def enabled(self, value):
        if value:
            raise ValueError(f"opt_einsum is not available, so setting `enabled` to {value} will not reap the "
                             "benefits of calculating an optimal path for einsum. disttensor's einsum orders "
                             "contractions with NumPy's greedy path optimizer instead.")
        _state["enabled"] = value

    @property
    def strategy(self):
        return _state["strategy"]

    @strategy.setter
    def strategy(self, value):
        raise ValueError(f"opt_einsum is not available, so setting `strategy` to {value} will not be "
                         "meaningful. disttensor's einsum orders contractions with NumPy's greedy path optimizer.")


install(__name__, _OptEinsumModule)
