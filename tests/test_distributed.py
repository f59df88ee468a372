"""Scaling out: 2 data-parallel processes under accelerate (gloo on CPU) keep identical replicas, merge the goal graph,
resume exactly, refuse another process count; gradient averaging; subprocess env workers equal inline envs."""
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from autotelic.checkpoint import CheckpointError
from autotelic.cli import main
from autotelic.config import load_config
from autotelic.graph import GoalGraph
from autotelic.distributed import check_world_size, checkpoint_world_size, shard_config, strategy_from_env
from autotelic.strategy import SingleProcess
from autotelic.envs import TextEnvError
from autotelic.loop import TIMING_METRICS, AutotelicLoop
from autotelic.metrics import read_metrics
from autotelic.rollout import Rollout
from autotelic.schema import TrainConfig
from autotelic.workers import EnvWorkers, make_envs, pipelined

SMALL = ["env.n_envs=4", "loop.log_every=40", "loop.eval_every=120", "loop.checkpoint_every=80",
         "loop.snapshot_every=120", "loop.eval_goals=4", "loop.progress=false", "loop.update_every=8",
         "sac.learning_starts=24", "sac.batch_size=8", "sac.uniform_warmup_updates=2", "torch_threads=1",
         "model.kwargs.d_model=32", "model.kwargs.d_kv=16", "model.kwargs.d_ff=64", "model.kwargs.num_layers=1",
         "model.kwargs.num_decoder_layers=1", "model.kwargs.num_heads=2"]
ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(*args: str, nproc: int = 2, timeout: int = 120) -> subprocess.CompletedProcess:
    """``accelerate launch`` N CPU processes of ``python -m autotelic ARGS`` (torchrun underneath, gloo)."""
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(nproc),
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "--main_process_port", str(_free_port()), "-m", "autotelic", *args]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def _rows(run_dir):
    return [{k: v for k, v in r.items() if k not in TIMING_METRICS} for r in read_metrics(run_dir)]


def _replay_goals(replay_state) -> set[str]:
    """Every goal achieved in the episodes of a saved EpisodeReplay."""
    strings = replay_state["strings"]
    return {strings[i] for ep in replay_state["episodes"] for step in ep["achieved"] for i in step}


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("dist")
    config = root / "tiny.yaml"  # the schema's defaults + SMALL: independent of configs/default.yaml's tuning
    config.write_text("seed: 0\n")
    run = root / "run"
    res = _launch("train", str(config), *SMALL, f"run_dir={run}", "loop.total_env_steps=160")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return run, res


def test_two_processes_hold_identical_replicas_and_one_merged_goal_graph(two_process_run):
    run, res = two_process_run
    assert res.stdout.count("run: ") == 1  # only rank 0 prints (and writes)
    rep = json.loads((run / "replicas.json").read_text())
    assert rep["world_size"] == 2 and rep["step"] == 160 and rep["identical"]
    r0, r1 = rep["ranks"]
    assert r0["updates"] == r1["updates"] > 10
    assert r0["weights"] == r1["weights"] and r0["graph"] == r1["graph"] and len(r0["weights"]) == 64
    assert [r["step"] for r in read_metrics(run)] == [40, 80, 120, 160]  # global env steps, one writer
    assert any("losses/critic" in r for r in read_metrics(run))

    state = torch.load(run / "checkpoints" / "ckpt_000000160.pt", weights_only=True)["state"]
    assert checkpoint_world_size(state) == 2
    ranks = state["distributed"]["ranks"]
    assert [len(r["rollout"]["slots"]) for r in ranks] == [2, 2]  # env.n_envs=4 split in two
    goals = [_replay_goals(r["learner"]["replay"]) for r in ranks]  # what each process saw itself
    discovered = set(GoalGraph.from_state_dict(state["graph"]).discovered())
    assert discovered == goals[0] | goals[1]
    assert goals[1] - goals[0], "rank 1 found no goal of its own: the envs of both ranks behave alike"
    assert state["graph"]["episodes"] == sum(len(r["learner"]["replay"]["episodes"]) for r in ranks)
    assert ranks[0]["rollout"]["slots"] != ranks[1]["rollout"]["slots"]  # seeds differ per rank
    before = torch.load(run / "checkpoints" / "ckpt_000000080.pt", weights_only=True)["state"]["learner"]["policy"]
    after = state["learner"]["policy"]
    assert any(not torch.equal(before[k], after[k]) for k in after)  # the replicas did learn


def test_two_process_resume_is_exact_and_needs_the_same_process_count(two_process_run, tmp_path):
    run, _ = two_process_run
    part = tmp_path / "part"
    shutil.copytree(run, part)
    (part / "checkpoints" / "ckpt_000000160.pt").unlink()
    (part / "checkpoints" / "latest").unlink()
    res = _launch("train", "--resume", str(part))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert _rows(part) == _rows(run)
    assert json.loads((part / "replicas.json").read_text()) == json.loads((run / "replicas.json").read_text())

    with pytest.raises(CheckpointError, match="written by 2 process.*this run has 1"):
        AutotelicLoop.resume(run)


def test_cli_refuses_a_resume_with_another_process_count(two_process_run, capsys):
    run, _ = two_process_run
    assert main(["train", "--resume", str(run), "loop.total_env_steps=200"]) == 2
    err = capsys.readouterr().err
    assert "--num_processes 2" in err and err.count("\n") == 1


def test_world_size_checks_and_config_split(monkeypatch):
    check_world_size({}, 1)
    with pytest.raises(CheckpointError, match="written by 1 process.*this run has 2"):
        check_world_size({}, 2)
    with pytest.raises(CheckpointError, match="written by 3 process"):
        check_world_size({"distributed": {"world_size": 3}}, 2)
    cfg = load_config(TrainConfig, None, ["env.n_envs=8", "sac.batch_size=64", "sac.learning_starts=101",
                                          "replay.capacity=1001", "sac.updates_per_step=0.25"])
    part = shard_config(cfg, 4)
    assert (part.env.n_envs, part.sac.batch_size, part.sac.learning_starts, part.replay.capacity) == (2, 16, 26, 251)
    assert part.sac.updates_per_step == 1.0 and cfg.env.n_envs == 8  # per global step; the input is untouched
    assert shard_config(cfg, 2, device="cuda:1").model.kwargs["device"] == "cuda:1"
    with pytest.raises(ValueError, match="env.n_envs=8 must be a multiple of the number of processes \\(3\\)"):
        shard_config(cfg, 3)
    with pytest.raises(ValueError, match="sac.batch_size=64 must be a multiple of the number of processes.*global batch"):
        shard_config(load_config(TrainConfig, None, ["env.n_envs=10", "sac.batch_size=64"]), 5)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert isinstance(strategy_from_env(), SingleProcess)


WORKER = textwrap.dedent("""
    import json, sys, torch, torch.distributed as dist
    from autotelic.distributed import Collectives, DistContext
    rank, world, store = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    c = Collectives(DistContext(rank=rank, world_size=world, local_rank=rank, device=torch.device("cpu")),
                    bucket_numel=5)  # several buckets
    P = torch.nn.Parameter
    a, b, never, some = P(torch.zeros(3)), P(torch.zeros(2, 2)), P(torch.zeros(2)), P(torch.zeros(2))
    half = P(torch.zeros(2, dtype=torch.bfloat16))
    a.grad = torch.full((3,), rank + 1.0)
    b.grad = torch.arange(4.0).reshape(2, 2) * (rank + 1)
    if rank == 0:
        some.grad = torch.tensor([4.0, 8.0])
    half.grad = torch.tensor([1.0, 3.0], dtype=torch.bfloat16) * (rank + 1)
    c.average_gradients([a, b, a, never, some, half])  # a twice: averaged once
    out = {"a": a.grad.tolist(), "b": b.grad.tolist(), "never": never.grad is None, "some": some.grad.tolist(),
           "half": half.grad.float().tolist(), "half_dtype": str(half.grad.dtype),
           "min": c.min_int(rank + 5), "mean": c.mean_float(rank), "all": c.all_gather_object({"r": rank}),
           "gather": c.gather_object(rank * 10)}
    print(json.dumps(out))
    dist.destroy_process_group()
""")


def test_gradients_are_averaged_across_processes(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, str(script), str(r), "2", str(tmp_path / "store")], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in range(2)]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=90)
        assert p.returncode == 0, err[-2000:]
        outs.append(json.loads(out.strip().splitlines()[-1]))
    for rank, o in enumerate(outs):
        assert o["a"] == [1.5] * 3 and o["b"] == [[0.0, 1.5], [3.0, 4.5]]
        assert o["never"] is True and o["some"] == [2.0, 4.0]  # missing on rank 1 counts as zeros there
        assert o["half"] == [1.5, 4.5] and o["half_dtype"] == "torch.bfloat16"
        assert o["min"] == 5 and o["mean"] == 0.5 and o["all"] == [{"r": 0}, {"r": 1}]
        assert o["gather"] == ([0, 10] if rank == 0 else None)


# ---------------------------------------------------------------------------------------------- env workers
def _env_cfg(workers, n=4):
    return load_config(TrainConfig, None, [f"env.n_envs={n}", f"env.workers={workers}"]).env


def _roll(envs, steps, seed=3):
    goals = ["Grasp chair", "Grow carrot", None, "Grow cow"]
    r = Rollout(envs, lambda g, o: f"{g}|{o}", lambda idx: [goals[i % 4] for i in idx], seed=seed)
    rng = np.random.default_rng(0)
    act = pipelined(lambda p, c: [int(rng.integers(len(x))) for x in c], envs)
    return [ep for _ in range(steps) for ep in r.step(act)], r


def test_subprocess_env_workers_give_the_same_episodes_as_inline_envs():
    inline, r_inline = _roll(make_envs(_env_cfg("inline")), 50)
    envs = make_envs(_env_cfg("subprocess"))
    try:
        assert isinstance(envs[0].group, EnvWorkers) and envs[0].group.vec.num_envs == 4
        workers, r_workers = _roll(envs, 50)
        assert len(inline) > 10 and workers == inline  # same goals, observations, actions, rewards, achieved
        assert r_workers.state_dict() == r_inline.state_dict()
        # a resumed rollout replays its episodes in progress one env at a time
        again = Rollout(envs, lambda g, o: f"{g}|{o}", lambda idx: [None] * len(idx), seed=9)
        again.load_state_dict(r_inline.state_dict())
        assert [s.episode for s in again.slots] == [s.episode for s in r_inline.slots]
        ref = make_envs(_env_cfg("inline", 1))[0].unwrapped
        assert envs[0].vocabulary() == ref.vocabulary() and envs[2].all_goals("test") == ref.all_goals("test")
        assert envs[1].compute_reward("Grasp chair", {"Grasp chair"}) == (1.0, True)
        with pytest.raises(TextEnvError), warnings.catch_warnings():  # a worker's error keeps its type
            warnings.simplefilter("ignore")  # gymnasium also logs the worker's traceback as a warning
            envs[0].step("Fly to the moon")
    finally:
        envs[0].close()


def test_goal_chaining_through_subprocess_workers_matches_inline():
    def roll(envs):
        goals = iter(["Grasp water", "Grasp chair", "Grow carrot", "Grasp water", "Grow cow"] * 400)
        r = Rollout(envs, lambda g, o: f"{g}|{o}", lambda idx: [next(goals) for _ in idx], seed=5, chain_goals=2)
        rng = np.random.default_rng(1)
        act = pipelined(lambda p, c: [int(rng.integers(len(x))) for x in c], envs)
        return [ep for _ in range(400) for ep in r.step(act)]

    inline = roll(make_envs(_env_cfg("inline", 2)))
    envs = make_envs(_env_cfg("subprocess", 2))
    try:
        workers = roll(envs)
    finally:
        envs[0].close()
    assert sum(bool(ep.prior) for ep in inline) >= 3
    assert workers == inline  # the same episodes, chained ones included


def test_loop_with_subprocess_workers_matches_inline(tmp_path):
    def rows(workers):
        cfg = load_config(TrainConfig, None, SMALL + [f"run_dir={tmp_path / workers}", "loop.total_env_steps=80",
                                                      f"env.workers={workers}"])
        loop = AutotelicLoop(cfg)
        loop.run()
        if workers == "subprocess":
            loop.envs[0].close()
        return _rows(tmp_path / workers)

    assert rows("subprocess") == rows("inline")
