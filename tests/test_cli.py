"""The command line as a new user meets it: README commands as printed, installs of both kinds, clear one-line
errors, Ctrl-C and resume messages."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autotelic.cli import find_config, main, shipped_configs

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TINY = ["env.n_envs=2", "loop.log_every=32", "loop.eval_every=0", "loop.eval_goals=2", "sac.learning_starts=16",
        "sac.batch_size=8", "loop.update_every=8", "loop.snapshot_every=0", "loop.checkpoint_every=0"]


def _env() -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # the console script installed beside this python
    return env


def _readme_block(marker: str) -> list[str]:
    """The lines of the README's bash block that contains ``marker``."""
    text = (ROOT / "README.md").read_text()
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        if marker in block:
            return [line for line in block.splitlines() if line.strip() and not line.startswith("#")]
    raise AssertionError(f"no README bash block contains {marker!r}")


def test_readme_plugin_examples_run_as_printed(tmp_path):
    shutil.copytree(ROOT / "examples", tmp_path / "examples", ignore=shutil.ignore_patterns("runs", "__pycache__"))
    lines = _readme_block("cd examples")
    script = " && ".join(lines + [])
    res = subprocess.run(["bash", "-c", f"set -e; {script}"], cwd=tmp_path, env=_env(), capture_output=True,
                         text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-2000:]
    assert (tmp_path / "examples" / "runs" / "counter" / "metrics.csv").is_file()
    assert (tmp_path / "examples" / "runs" / "goldilocks" / "metrics.csv").is_file()
    assert list((tmp_path / "examples" / "runs" / "counter").glob("*.png"))  # plot_run.py drew its figure


def test_shipped_configs_resolve_by_name_and_a_missing_name_is_an_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no configs/ here: names resolve inside the package
    assert {"default", "ppo", "paper", "curricula/uniform"} <= set(shipped_configs())
    assert Path(find_config("curricula/uniform")).is_file()
    with pytest.raises(ValueError, match="config 'nope' not found.*default, paper, ppo"):
        find_config("nope")


def test_schema_defaults_are_the_default_run():
    from autotelic.config import config_to_dict, load_config
    from autotelic.schema import TrainConfig

    assert config_to_dict(load_config(TrainConfig, find_config("default"))) == config_to_dict(TrainConfig())


def test_wheel_install_trains_a_named_config_from_an_empty_directory(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(wheels), str(ROOT)], check=True, capture_output=True, timeout=300)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", str(next(wheels.glob("*.whl")))],
                   check=True, capture_output=True, timeout=300)
    empty = tmp_path / "empty"
    empty.mkdir()
    where = subprocess.run([str(py), "-c", "import autotelic; print(autotelic.__file__)"], cwd=empty,
                           capture_output=True, text=True, check=True).stdout
    assert str(venv) in where  # the wheel, not the source tree
    res = subprocess.run([str(venv / "bin" / "autotelic"), "train", "ppo", "loop.total_env_steps=64",
                          "loop.progress=false", "ppo.rollout_steps=32", *TINY], cwd=empty, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "learner: ppo" in (empty / "runs" / "ppo" / "config.yaml").read_text()


@pytest.mark.parametrize("argv, message", [
    (["train", "sac.gama=0.9"], "unknown config key 'sac.gama'"),
    (["train", "sac.gama=0.9"], "'her.gamma'?"),
    (["train", "sac.batch_size=abc"], "sac.batch_size"),
    (["train", "her.gamma=1.5"], "gamma"),
    (["train", "learner=dqn"], "learner must be one of"),
    (["train", "curriculum.name=nope", "loop.progress=false"], "unknown curriculum 'nope'; registered:"),
    (["train", "missing.yaml"], "config 'missing.yaml' not found"),
    (["train", "default", "oops"], "overrides take the form key=value"),
    (["eval", "/nonexistent/run"], "is not a run directory"),
    (["train", "sac.batch_sise=3"], "did you mean 'sac.batch_size'"),
    (["train", "env.kwargs.foo=1", "loop.progress=false"], "env.kwargs ['foo'] do not fit env"),
    (["train", "model.kwargs.d_modle=32", "loop.progress=false"], "did you mean 'model.kwargs.d_model'"),
    (["train", "model.name=google/flan-t5-base", "model.kwargs.d_model=32", "loop.progress=false"],
     "loads pretrained weights and takes only"),
    (["train", "nope"], "config 'nope' not found"),
])
def test_bad_input_gives_one_clear_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("autotelic: error:") and message in err and "\n" not in err


def test_version_and_help_list_configs_and_sections(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.startswith("autotelic ")
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    assert "curricula/uniform" in out and "her " in out and "total_env_steps" in out


def test_ctrl_c_saves_says_how_to_resume_and_exits_130(tmp_path):
    run = tmp_path / "run"
    proc = subprocess.Popen([str(BIN / "autotelic"), "train", f"run_dir={run}", "loop.total_env_steps=100000",
                             "loop.progress=false", *TINY], env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    rows = run / "metrics.jsonl"
    while not (rows.is_file() and rows.read_text().strip()) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.5)  # the first metric row is written: the run is training
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err[-2000:]
    step = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["step"]
    assert f"Resume with: autotelic train --resume {run}" in err
    assert list((run / "checkpoints").glob("*.pt")) and step > 0


def test_resume_messages_wall_time_and_config(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", f"run_dir={run}", "loop.total_env_steps=64", "loop.progress=false", *TINY]) == 0
    assert f"run_dir: {run}" in (run / "config.yaml").read_text()  # resolved, never null
    capsys.readouterr()
    assert main(["train", "--resume", str(run)]) == 0
    assert "is finished (env step 64 of 64)" in capsys.readouterr().err
    assert main(["train", "--resume", str(run), "loop.total_env_steps=32"]) == 2
    assert "below the run's step 64" in capsys.readouterr().err
    assert "total_env_steps: 64" in (run / "config.yaml").read_text()  # a refused resume rewrites nothing
    from autotelic.metrics import read_metrics

    first = read_metrics(run)[-1]["charts/wall_time"]
    odd = tmp_path / "odd"  # 4 envs in lockstep overshoot a budget of 30 to step 32: eval and resume still work
    assert main(["train", f"run_dir={odd}", "loop.total_env_steps=30", "loop.progress=false", *TINY, "env.n_envs=4"]) == 0
    assert main(["eval", str(odd), "--goals", "2"]) == 0
    assert json.loads((odd / "eval.json").read_text())["step"] == 32
    assert main(["train", "--resume", str(odd)]) == 0
    assert "is finished (env step 32 of 30)" in capsys.readouterr().err
    assert main(["train", "--resume", str(run), "loop.total_env_steps=96"]) == 0
    rows = read_metrics(run)
    assert rows[-1]["step"] == 96 and rows[-1]["charts/wall_time"] > first  # the clock continues across resumes


def test_an_empty_mapping_clears_a_section_and_a_hub_model_needs_no_tiny_kwargs(tmp_path, capsys, monkeypatch):
    from autotelic.config import load_config
    from autotelic.schema import TrainConfig

    base = tmp_path / "base.yaml"
    base.write_text("model:\n  kwargs:\n    d_model: 32\n")
    assert load_config(TrainConfig, str(base)).model.kwargs == {"d_model": 32}
    assert load_config(TrainConfig, str(base), ["model.kwargs={}"]).model.kwargs == {}
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["train", "model.name=no-such-org/no-such-model", "loop.progress=false"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("autotelic: error:") and "\n" not in err and "only apply to tiny" not in err
