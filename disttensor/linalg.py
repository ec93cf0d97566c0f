"""disttensor.linalg: PyTorch's torch.linalg namespace (forward through the array module's linalg)."""
from .ops.linalg import (LinAlgError, inv, det, slogdet, solve, cholesky, qr, svd, svdvals, eigh,  # noqa: F401
                         eigvalsh, pinv, matrix_power, matrix_rank, vector_norm, matrix_norm, multi_dot, vecdot,
                         matmul, solve_triangular, lstsq)
from .ops.linalg import linalg_norm as norm, linalg_cross as cross  # noqa: F401
from .ops.movement import diagonal as _diagonal


def diagonal(A, *, offset=0, dim1=-2, dim2=-1):
    return _diagonal(A, offset, dim1, dim2)


def inv_ex(A, *, check_errors=False, out=None):
    from .ops.creation import zeros
    return inv(A), zeros(A.shape[:-2]).int()


def cholesky_ex(A, *, upper=False, check_errors=False, out=None):
    from .ops.creation import zeros
    return cholesky(A, upper=upper), zeros(A.shape[:-2]).int()


__all__ = ["LinAlgError", "inv", "inv_ex", "det", "slogdet", "solve", "cholesky", "cholesky_ex", "qr", "svd",
           "svdvals", "eigh", "eigvalsh", "pinv", "matrix_power", "matrix_rank", "vector_norm", "matrix_norm",
           "norm", "cross", "multi_dot", "vecdot", "matmul", "diagonal", "solve_triangular", "lstsq"]
