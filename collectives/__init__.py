"""collectives: process groups, MPI and NCCL backends, collective ops with torch.distributed's API.

`import disttensor.distributed as dist` gives these names. See collectives/README.md.
"""
from .types import ReduceOp, RedOpType, Backend, GroupMember, group, reduce_op  # noqa: F401
from .work import Work  # noqa: F401
from .store import Store, TCPStore, HashStore, PrefixStore  # noqa: F401
from .diagnostics import DistError, DistBackendError, DistStoreError, CollectiveMismatchError  # noqa: F401
from .distributed_c10d import (  # noqa: F401
    ProcessGroup, P2POp, default_pg_timeout,
    is_available, is_mpi_available, is_nccl_available, is_gloo_available, is_ucc_available,
    is_xccl_available, is_backend_available, is_torchelastic_launched, is_initialized,
    init_process_group, destroy_process_group, new_group, new_subgroups,
    get_rank, get_world_size, get_backend, get_global_rank, get_group_rank, get_process_group_ranks,
    get_node_local_rank, get_debug_level, set_debug_level, set_debug_level_from_env,
    all_reduce, all_reduce_coalesced, broadcast, reduce, all_gather, all_gather_into_tensor,
    all_gather_coalesced, reduce_scatter, reduce_scatter_tensor, gather, scatter, all_to_all,
    all_to_all_single, barrier, monitored_barrier, send, recv, isend, irecv, batch_isend_irecv,
    all_gather_object, gather_object, broadcast_object_list, scatter_object_list,
    _all_gather_base, _reduce_scatter_base,
)
