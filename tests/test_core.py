"""The loop core: built parts + callbacks + strategy. Outputs are callbacks; a user callback plugs in with no
change to the core; the curriculum is asked once per step for every env that resets."""
from autotelic.build import build_parts
from autotelic.callbacks import Callback
from autotelic.config import load_config
from autotelic.core import LoopCore
from autotelic.loop import AutotelicLoop
from autotelic.schema import TrainConfig

SMALL = ["env.n_envs=3", "loop.progress=false", "sac.learning_starts=16", "sac.batch_size=4", "loop.update_every=6",
         "loop.log_every=30", "loop.eval_every=0", "loop.checkpoint_every=0", "loop.snapshot_every=0",
         "loop.total_env_steps=60"]


class Recorder(Callback):
    def __init__(self) -> None:
        self.events: list[tuple] = []

    def on_run_start(self, core):
        self.events.append(("start", core.env_steps))

    def on_step(self, core, before, now):
        self.events.append(("step", before, now))

    def on_run_end(self, core, interrupted):
        self.events.append(("end", core.env_steps, interrupted))

    def close(self, core):
        self.events.append(("close",))


def test_core_without_callbacks_trains_and_writes_nothing(tmp_path):
    cfg = load_config(TrainConfig, None, SMALL)
    rec = Recorder()
    core = LoopCore(build_parts(cfg), tmp_path / "run", seed=0, total_env_steps=60, update_every=6, callbacks=[rec])
    core.run()
    assert core.env_steps == 60 and core.learner.num_updates > 0 and core.episodes > 0
    assert not (tmp_path / "run").exists()  # config, metrics, checkpoints and pictures are all callbacks
    steps = [e for e in rec.events if e[0] == "step"]
    assert rec.events[0] == ("start", 0) and rec.events[-2:] == [("end", 60, False), ("close",)]
    assert [(b, n) for _, b, n in steps] == [(3 * i, 3 * i + 3) for i in range(20)]


def test_a_user_callback_runs_after_the_built_in_ones(tmp_path):
    rec = Recorder()
    loop = AutotelicLoop(load_config(TrainConfig, None, SMALL + [f"run_dir={tmp_path / 'r'}"]), callbacks=[rec])
    loop.run()
    assert (tmp_path / "r" / "metrics.csv").is_file() and rec.events[-1] == ("close",)
    assert loop.callbacks[-1] is rec


def test_the_curriculum_is_asked_once_per_step_for_all_resetting_envs(tmp_path):
    loop = AutotelicLoop(load_config(TrainConfig, None, SMALL + [f"run_dir={tmp_path / 'r'}"]))
    calls: list[int] = []
    real = loop.curriculum.sample

    def sample(graph, n, rng):
        calls.append(n)
        return real(graph, n, rng)

    loop.curriculum.sample = sample
    for _ in range(20):
        loop.train_iteration()
    assert calls and max(calls) <= 3 and len(calls) < loop.episodes  # several resets share one call
