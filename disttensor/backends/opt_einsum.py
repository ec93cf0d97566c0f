"""disttensor.backends.opt_einsum: `is_available()` is False, honestly: disttensor's einsum never uses the
`opt_einsum` package, installed or not. This is PyTorch's state without opt_einsum: `enabled` starts False
and `strategy` None; like PyTorch 2.13 both are plain attributes that accept any value, with no effect here.
Nothing is lost by it: with three or more operands disttensor's einsum already contracts in the order of
NumPy's greedy path optimizer (`numpy.einsum_path`, computed from the shapes), not left to right."""

__all__ = ["is_available", "get_opt_einsum", "enabled", "strategy"]

enabled = False
strategy = None


def is_available():
    return False


def get_opt_einsum():
    """PyTorch returns the opt_einsum package when it uses it; disttensor never does: None."""
    return None
