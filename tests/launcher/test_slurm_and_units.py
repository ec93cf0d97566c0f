"""dtrun slurm (the sbatch script, and running it with stand-ins for srun/scontrol), plus unit
tests of the pieces: the status-record channel, the contract resolution, the report."""

import os
import stat
import sys

import pytest

from launcher import slurm
from launcher._common import Demux, encode_record, find_mpiexec
from launcher.bootstrap import resolve_contract
from launcher.report import format_report

from ._util import ENV_SCRIPT, PY, base_env, dtrun, rank_json, run, write_script


@pytest.mark.timeout(30)
def test_sbatch_script_mpiexec_mode():
    rc, out, err = dtrun(["slurm", "--nodes", "2", "--ntasks-per-node", "4", "--partition",
                          "gpu", "--time", "01:30:00", "--cpus-per-task", "8", "--gpus-per-node",
                          "4", "--account", "proj", "--max-restarts", "2", "--sbatch-arg=--exclusive",
                          "train.py", "--epochs", "3", "--name", "a b"])
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0] == "#!/bin/bash"
    for want in ["#SBATCH --job-name=dtrun", "#SBATCH --nodes=2", "#SBATCH --ntasks-per-node=4",
                 "#SBATCH --partition=gpu", "#SBATCH --time=01:30:00",
                 "#SBATCH --cpus-per-task=8", "#SBATCH --gpus-per-node=4",
                 "#SBATCH --account=proj", "#SBATCH --exclusive"]:
        assert want in lines, want
    sb = [i for i, l in enumerate(lines) if l.startswith("#SBATCH")]
    assert sb == list(range(1, len(sb) + 1))       # all directives before the first command
    assert 'HOSTS=$(scontrol show hostnames "$SLURM_JOB_NODELIST")' in lines
    assert 'export MASTER_ADDR=$(echo "$HOSTS" | head -n 1)' in lines
    assert "export MASTER_PORT=${MASTER_PORT:-29500}" in lines
    assert "export OMP_NUM_THREADS=${OMP_NUM_THREADS:-8}" in lines
    assert "PYTHON=${PYTHON:-%s}" % sys.executable in lines
    text = "\n".join(lines)
    assert '--hostfile "$HOSTFILE" --mpiexec-args "-launcher slurm"' in text
    assert "--nproc-per-node 4 --nnodes 2" in text and "--max-restarts 2" in text
    assert "train.py --epochs 3 --name 'a b'" in text
    assert "srun" not in text.split("set -euo pipefail")[1].replace("with srun", "")


@pytest.mark.timeout(60)
@pytest.mark.mpi
@pytest.mark.skipif(find_mpiexec() is None, reason="needs mpiexec (mpich wheel)")
def test_sbatch_script_srun_mode_runs(tmp_path):
    """Run the generated script with stand-in `scontrol` and `srun` (srun -> mpiexec)."""
    script = write_script(tmp_path, "env.py", ENV_SCRIPT)
    rc, out, err = dtrun(["slurm", "--nodes", "1", "--ntasks-per-node", "2", "--use-srun",
                          "--time", "5", script, "--mpi"])
    assert rc == 0, err
    assert "--launch-with 'srun --kill-on-bad-exit=1 --mpi=pmi2 --nodes=1 --ntasks-per-node=2'" in out
    job = tmp_path / "job.sbatch"
    job.write_text(out)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "scontrol").write_text("#!/bin/sh\necho localhost\n")
    (bindir / "srun").write_text(
        "#!/bin/sh\n"
        "# stand-in: drop srun's own options, start the ranks with mpiexec\n"
        "n=2\nwhile [ $# -gt 0 ]; do case \"$1\" in -*) shift;; *) break;; esac; done\n"
        "exec %s -n $n \"$@\"\n" % find_mpiexec())
    for f in ("scontrol", "srun"):
        p = bindir / f
        p.chmod(p.stat().st_mode | stat.S_IEXEC)
    env = base_env(SLURM_JOB_NODELIST="localhost", SLURM_JOB_ID="4242",
                   SLURM_SUBMIT_DIR=str(tmp_path))
    env["PATH"] = str(bindir) + os.pathsep + env["PATH"]
    rc, out, err = run(["bash", str(job)], env=env)
    assert rc == 0, err
    got = rank_json(out)
    assert sorted(got) == [0, 1], (out, err)
    for r, d in got.items():
        assert d["RANK"] == str(r) and d["WORLD_SIZE"] == "2" and d["LOCAL_RANK"] == str(r)
        assert d["MASTER_ADDR"] == "localhost" and d["MASTER_PORT"] == "29500"
        assert d["mpi"] == [r, 2, 3.0]


def test_status_records_survive_chunking_and_interleaving():
    recs = []
    d = Demux(recs.append)
    rec = {"rank": 3, "exitcode": 1, "traceback": "Traceback\n  boom\nValueError: x"}
    data = b"progress 10%" + encode_record(rec) + b"line two\n\x1eother"
    out = b"".join(d.feed(data[i:i + 5]) for i in range(0, len(data), 5)) + d.flush()
    assert recs == [rec]
    assert out == b"progress 10%line two\n\x1eother"


def test_long_records_are_cut_to_one_pipe_write():
    rec = {"rank": 0, "traceback": "x" * 20000 + "THE END", "stderr_tail": ""}
    data = encode_record(rec)
    assert len(data) <= 3800
    recs = []
    Demux(recs.append).feed(data)
    assert recs[0]["traceback"].endswith("THE END") and recs[0]["rank"] == 0


@pytest.mark.parametrize("env,want", [
    ({"PMI_RANK": "3", "PMI_SIZE": "4", "MPI_LOCALRANKID": "1", "MPI_LOCALNRANKS": "2"},
     dict(rank=3, world_size=4, local_rank=1, local_world_size=2, group_rank=1,
          group_world_size=2)),
    ({"PMI_RANK": "5", "PMI_SIZE": "8", "DTRUN_NPROC_PER_NODE": "4", "DTRUN_NNODES": "2"},
     dict(rank=5, world_size=8, local_rank=1, local_world_size=4, group_rank=1,
          group_world_size=2)),
    ({"SLURM_PROCID": "6", "SLURM_NTASKS": "8", "SLURM_LOCALID": "2",
      "SLURM_NTASKS_PER_NODE": "4", "SLURM_NODEID": "1", "SLURM_JOB_NUM_NODES": "2"},
     dict(rank=6, world_size=8, local_rank=2, local_world_size=4, group_rank=1,
          group_world_size=2)),
    ({"OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "2",
      "OMPI_COMM_WORLD_LOCAL_RANK": "1", "OMPI_COMM_WORLD_LOCAL_SIZE": "2"},
     dict(rank=1, world_size=2, local_rank=1, local_world_size=2, group_rank=0,
          group_world_size=1)),
    ({"DTRUN_RANK": "5", "DTRUN_WORLD_SIZE": "6", "DTRUN_LOCAL_RANK": "0",
      "DTRUN_LOCAL_WORLD_SIZE": "1", "DTRUN_GROUP_RANK": "2", "DTRUN_NNODES": "3",
      "PMI_RANK": "0", "PMI_SIZE": "1"},
     dict(rank=5, world_size=6, local_rank=0, local_world_size=1, group_rank=2,
          group_world_size=3)),
    ({}, dict(rank=0, world_size=1, local_rank=0, local_world_size=1, group_rank=0,
              group_world_size=1)),
])
def test_contract_from_each_starter(env, want):
    got = resolve_contract(env)
    assert {k: got[k] for k in want} == want


def test_report_picks_first_real_failure():
    records = {
        0: {"rank": 0, "host": "a", "signal": 15, "time": 5.0, "terminated": True},
        2: {"rank": 2, "host": "b", "exitcode": 1, "time": 3.0, "local_rank": 0,
            "group_rank": 1, "pid": 11, "error": "OSError: disk full",
            "traceback": "Traceback (most recent call last):\nOSError: disk full\n"},
        3: {"rank": 3, "host": "b", "signal": 9, "time": 4.0, "collateral": True},
    }
    text = format_report(records, 4, 1, 1)
    root = text.split("Other ranks:")[0]
    assert "rank:        2 (local_rank 0, node_rank 1)" in root and "host:        b" in root
    assert "OSError: disk full" in root
    other = text.split("Other ranks:")[1]
    assert "rank 0 (a): killed by signal SIGTERM (15) (stopped after the root cause)" in other
    assert "rank 3 (b): killed by signal SIGKILL (9)" in other
    assert "rank 1: stopped by the launcher" in other


def test_submit_builds_the_job_for_the_ray_job_api(tmp_path, monkeypatch, capsys):
    """dtrun submit against a stand-in JobSubmissionClient (the real API is tested in
    test_ray.py when Ray is installed)."""
    from launcher import submit

    calls = {}

    class FakeClient:
        def __init__(self, address):
            calls["address"] = address

        def submit_job(self, **kw):
            calls["submit"] = kw
            return "raysubmit_123"

        async def tail_job_logs(self, sid):
            yield "[rank 0] hello\n"

        def get_job_status(self, sid):
            return "FAILED" if "bad" in calls["submit"]["entrypoint"] else "SUCCEEDED"

    monkeypatch.setattr(submit, "_client", FakeClient)
    write_script(tmp_path, "train.py", "print('hi')\n")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    rc = submit.main(["--address", "http://head:8265", "--pip", "tqdm", "--nproc-per-node", "4",
                      "--nnodes", "2", "--gpus-per-rank", "1", "--max-restarts", "3",
                      "--env", "A=1", "train.py", "--epochs", "3"])
    assert rc == 0
    assert calls["address"] == "http://head:8265"
    kw = calls["submit"]
    assert kw["entrypoint"].startswith("python -m launcher --ray --ray-address auto ")
    for part in ["--nproc-per-node 4", "--nnodes 2", "--gpus-per-rank 1", "--max-restarts 3",
                 "--env A=1"]:
        assert part in kw["entrypoint"]
    assert kw["entrypoint"].endswith(" train.py --epochs 3")
    env = kw["runtime_env"]
    assert env["working_dir"] == str(tmp_path) and env["pip"] == ["tqdm"]
    assert env["py_modules"] == [os.path.join(os.path.dirname(os.path.dirname(
        os.path.dirname(os.path.abspath(__file__)))), "launcher")]
    assert ".venv" in env["excludes"]
    assert "[rank 0] hello" in capsys.readouterr().out
    write_script(tmp_path, "bad.py", "raise SystemExit(1)\n")
    assert submit.main(["--address", "http://head:8265", "--no-wait", "bad.py"]) == 0
    assert submit.main(["--address", "http://head:8265", "bad.py"]) == 1
    with pytest.raises(SystemExit):
        submit.main(["--address", "http://head:8265", "--working-dir", "sub", "train.py"])
