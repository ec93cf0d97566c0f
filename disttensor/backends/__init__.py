"""disttensor.backends: PyTorch's `torch.backends` switches, so training-script preambles run unchanged:

    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.deterministic = True
    torch.backends.cuda.matmul.allow_tf32 = True

Most of these settings steer libraries disttensor does not use (cuDNN, oneDNN, MKL, OpenMP, opt_einsum):
they are accepted, checked (a bool where PyTorch wants one) and stored, and read back what was set, but have
no effect on results or speed. Each submodule's docstring says which settings those are and why its
`is_available()` answers what it does:

- cudnn: no effect; `is_available()` True only with disttensor's CUDA path and CuPy's cuDNN bindings.
- cuda: `is_built()` is "CuPy is installed"; `matmul.*`, sdp switches, `cufft_plan_cache`: stored only.
- mps: no Metal backend (False). mkldnn, mkl, openmp, opt_einsum: not used (False).
- cpu: `get_cpu_capability()` from NumPy's CPU dispatch.

`disable_global_flags()` makes later plain assignments to cudnn/mkldnn flags raise RuntimeError (use the
`flags()` context managers then), as in PyTorch. None of this imports CuPy.
"""
from . import _flags
from . import cpu, cuda, cudnn, mkl, mkldnn, mps, openmp, opt_einsum  # noqa: F401

__all__ = ["cpu", "cuda", "cudnn", "mkl", "mkldnn", "mps", "openmp", "opt_einsum", "disable_global_flags",
           "flags_frozen"]


def disable_global_flags():
    """After this, `torch.backends.cudnn.<flag> = value` raises; `with torch.backends.cudnn.flags(...)` works."""
    _flags._frozen = True


def flags_frozen():
    return _flags._frozen
