"""ReduceOp, Backend and GroupMember with PyTorch's names."""
import enum


class RedOpType(enum.IntEnum):
    SUM = 0
    AVG = 1
    PRODUCT = 2
    MIN = 3
    MAX = 4
    BAND = 5
    BOR = 6
    BXOR = 7
    PREMUL_SUM = 8
    UNUSED = 9


class ReduceOp:
    """torch.distributed.ReduceOp: `ReduceOp.SUM`, ... (members are RedOpType values)."""
    RedOpType = RedOpType
    SUM = RedOpType.SUM
    AVG = RedOpType.AVG
    PRODUCT = RedOpType.PRODUCT
    MIN = RedOpType.MIN
    MAX = RedOpType.MAX
    BAND = RedOpType.BAND
    BOR = RedOpType.BOR
    BXOR = RedOpType.BXOR
    PREMUL_SUM = RedOpType.PREMUL_SUM
    UNUSED = RedOpType.UNUSED

    def __init__(self, op=RedOpType.SUM):
        self.op = RedOpType(op)


class reduce_op:  # deprecated alias kept by PyTorch
    SUM = RedOpType.SUM
    PRODUCT = RedOpType.PRODUCT
    MIN = RedOpType.MIN
    MAX = RedOpType.MAX


_OK = frozenset(RedOpType) - {RedOpType.PREMUL_SUM, RedOpType.UNUSED}


def to_op(op):
    if op in _OK and op.__class__ is RedOpType:
        return op
    if isinstance(op, ReduceOp):
        op = op.op
    try:
        op = RedOpType(op)
    except ValueError:
        raise ValueError(f"unknown ReduceOp {op!r}") from None
    if op in (RedOpType.PREMUL_SUM, RedOpType.UNUSED):
        raise RuntimeError(f"ReduceOp.{op.name} is not supported")
    return op


class Backend(str):
    """torch.distributed.Backend: `Backend('MPI') == 'mpi'`; constants MPI, NCCL, GLOO."""
    UNDEFINED = "undefined"
    GLOO = "gloo"
    NCCL = "nccl"
    MPI = "mpi"
    backend_list = ["mpi", "nccl", "gloo"]

    def __new__(cls, name):
        if not isinstance(name, str):
            raise ValueError(f"Backend name must be a string, got {name!r}")
        value = name.lower()
        if value not in cls.backend_list and ":" not in value:
            raise ValueError(f"Invalid backend: {name!r}; disttensor has 'mpi' (CPU) and 'nccl' (CUDA); "
                             "'gloo' is accepted as an alias of 'mpi'")
        return str.__new__(cls, value)


class GroupMember:
    """GroupMember.WORLD is the default group once init_process_group ran (None before)."""
    WORLD = None
    NON_GROUP_MEMBER = -100


class group:
    WORLD = None
