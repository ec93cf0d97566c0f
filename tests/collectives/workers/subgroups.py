"""Subgroups on 3 ranks: group ranks, global src/dst, non-members, collectives inside groups."""
import numpy as np
import disttensor as torch
import disttensor.distributed as dist

dist.init_process_group("mpi")
R, N = dist.get_rank(), dist.get_world_size()
assert N == 3
g02 = dist.new_group([2, 0])            # sorted: group rank 0 -> global 0, 1 -> global 2
g12 = dist.new_group([1, 2])
if R == 1:
    assert g02 is dist.GroupMember.NON_GROUP_MEMBER
    assert dist.get_rank(g02) == -1
    assert dist.all_reduce(torch.ones(2), group=g02) is None
else:
    assert dist.get_rank(g02) == (0 if R == 0 else 1) and dist.get_world_size(g02) == 2
    t = torch.full((3,), float(R)); dist.all_reduce(t, group=g02); np.testing.assert_allclose(t.numpy(), 2)
    t = torch.full((3,), float(R)); dist.broadcast(t, src=2, group=g02); np.testing.assert_allclose(t.numpy(), 2)
    assert dist.get_global_rank(g02, 1) == 2 and dist.get_group_rank(g02, 2) == 1
    out = [torch.zeros(1) for _ in range(2)]; dist.all_gather(out, torch.full((1,), float(R)), group=g02)
    assert [o.item() for o in out] == [0.0, 2.0]
    objs = [None, None]; dist.all_gather_object(objs, R, group=g02); assert objs == [0, 2]
if R in (1, 2):
    t = torch.full((2,), float(R)); dist.reduce(t, dst=1, group=g12)
    if R == 1:
        np.testing.assert_allclose(t.numpy(), 3)
    w = dist.all_reduce(torch.ones(4), group=g12, async_op=True); w.wait()
mine, groups = dist.new_subgroups(group_size=1)
assert dist.get_world_size(mine) == 1
t = torch.ones(2); dist.all_reduce(t); np.testing.assert_allclose(t.numpy(), 3)
dist.barrier()
print(f"rank {R}: ALL OK", flush=True)
dist.destroy_process_group()
