"""SyncBatchNorm across 2 real MPI ranks equals BatchNorm over the whole batch in one process."""
import os
import subprocess
import sys

import pytest

from tests.collectives._launch import _env, _communicate, MPIEXEC

pytestmark = pytest.mark.mpi
WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "workers", "syncbn.py")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.timeout(120)
def test_sync_batchnorm_two_ranks():
    p = subprocess.Popen([MPIEXEC, "-n", "2", sys.executable, WORKER], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=_env(None), cwd=ROOT, start_new_session=True)
    ((rc, out, err),) = _communicate([p], timeout=110)
    assert rc == 0, f"stdout:\n{out}\nstderr:\n{err}"
    assert out.count("ALL OK") == 2, out


def test_sync_batchnorm_single_process_is_batchnorm():
    import numpy as np
    import disttensor as dt
    import disttensor.nn as nn
    dt.manual_seed(0)
    bn = nn.BatchNorm2d(3).double()
    sbn = nn.SyncBatchNorm.convert_sync_batchnorm(nn.Sequential(nn.BatchNorm2d(3)).double())[0]
    sbn.load_state_dict(bn.state_dict())
    x = dt.randn(4, 3, 2, 2, dtype=dt.float64)
    np.testing.assert_allclose(sbn(x).detach().numpy(), bn(x).detach().numpy())
    assert type(sbn).__name__ == "SyncBatchNorm" and list(sbn.state_dict()) == list(bn.state_dict())
