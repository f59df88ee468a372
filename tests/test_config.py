"""Config machinery on a small example schema: file + overrides, one-line errors, validate hooks, save/load."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import pytest
from omegaconf import MISSING

from autotelic.config import ConfigError, config_to_dict, load_config, parse_override, save_config


class Algo(enum.Enum):
    sac = "sac"
    ppo = "ppo"


@dataclass
class SacCfg:
    gamma: float = 0.99
    tau: float = 0.005
    alpha: float = 0.05
    n_step: int = 3
    auto_alpha: bool = True

    def validate(self) -> None:
        if not 0.0 < self.gamma <= 1.0:
            raise ValueError(f"gamma must be in (0, 1], got {self.gamma}")
        if self.n_step < 1:
            raise ValueError(f"n_step must be >= 1, got {self.n_step}")


@dataclass
class LoraCfg:
    r: int = 8
    targets: List[str] = field(default_factory=lambda: ["q", "v"])


@dataclass
class EnvCfg:
    name: str = "playground"
    num_envs: int = 16
    kwargs: Dict[str, float] = field(default_factory=dict)
    held_out: List[str] = field(default_factory=list)


@dataclass
class Cfg:
    run_name: str = "run"
    seed: int = 0
    algo: Algo = Algo.sac
    device: Optional[str] = None
    sac: SacCfg = field(default_factory=SacCfg)
    env: EnvCfg = field(default_factory=EnvCfg)
    lora: Optional[LoraCfg] = None
    eval_every: List[int] = field(default_factory=lambda: [100])

    def validate(self) -> None:
        if self.algo is Algo.ppo and self.lora is not None:
            raise ValueError("lora is not supported with ppo")


def _err(*args, **kw) -> str:
    with pytest.raises(ConfigError) as ei:
        load_config(Cfg, *args, **kw)
    msg = str(ei.value)
    assert "\n" not in msg, f"multi-line error: {msg!r}"
    return msg


def _yaml(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "cfg.yaml"
    p.write_text(text)
    return p


def test_defaults_only() -> None:
    cfg = load_config(Cfg, None, [])
    assert cfg == Cfg() and isinstance(cfg.sac, SacCfg)


def test_file_then_overrides_with_nested_keys_and_types(tmp_path: Path) -> None:
    path = _yaml(tmp_path, """
run_name: from_file
seed: 1
sac:
  gamma: 0.9
  n_step: 5
env:
  kwargs: {horizon_scale: 1.5}
  held_out: [tiger, hyena]
""")
    cfg = load_config(Cfg, path, [
        "seed=7",                       # int
        "sac.gamma=0.95",               # float, overrides the file
        "sac.tau=1e-3",                 # float written without a dot
        "sac.auto_alpha=false",         # bool
        "env.held_out=[lion,wolf]",     # list
        "env.kwargs.max_steps=30",      # free-form key inside a Dict field
        "run_name=001",                 # str kept verbatim (not the int 1)
        "device=cuda:0",                # Optional[str]
        "algo=ppo",                     # enum by name
        "eval_every=[10, 20]",
    ])
    assert cfg.seed == 7 and cfg.sac.gamma == 0.95 and cfg.sac.n_step == 5 and cfg.sac.tau == 1e-3
    assert cfg.sac.auto_alpha is False
    assert cfg.env.held_out == ["lion", "wolf"]
    assert cfg.env.kwargs == {"horizon_scale": 1.5, "max_steps": 30.0}
    assert cfg.run_name == "001" and cfg.device == "cuda:0" and cfg.algo is Algo.ppo
    assert cfg.eval_every == [10, 20]
    assert isinstance(cfg.sac, SacCfg) and isinstance(cfg.env, EnvCfg)
    assert type(cfg.seed) is int and type(cfg.sac.gamma) is float


def test_optional_section_is_created_by_a_nested_override() -> None:
    cfg = load_config(Cfg, None, ["lora.r=16"])
    assert cfg.lora == LoraCfg(r=16)
    assert load_config(Cfg, None, ["lora.r=4", "lora=null"]).lora is None
    assert load_config(Cfg, None, ["device=null"]).device is None


def test_unknown_key_names_key_and_valid_keys(tmp_path: Path) -> None:
    msg = _err(None, ["sac.gama=0.9"])
    assert "unknown config key 'sac.gama'" in msg
    assert "valid keys under 'sac': gamma, tau, alpha, n_step, auto_alpha" in msg
    assert "did you mean 'sac.gamma'?" in msg and "override 'sac.gama=0.9'" in msg
    msg = _err(None, ["sedd=3"])
    assert "unknown config key 'sedd'" in msg and "valid top-level keys: run_name, seed," in msg
    msg = _err(_yaml(tmp_path, "env:\n  num_env: 4\n"), [])
    assert "unknown config key 'env.num_env'" in msg and "cfg.yaml" in msg and "valid keys under 'env'" in msg
    msg = _err(None, ["sac.gamma.x=1"])
    assert "'sac.gamma' is a value of type float, not a section" in msg


@pytest.mark.parametrize(
    "override, key, expected, value",
    [
        ("seed=abc", "seed", "expected int", "'abc'"),
        ("seed=1.5", "seed", "expected int", "1.5"),
        ("sac.gamma=fast", "sac.gamma", "expected float", "'fast'"),
        ("sac.auto_alpha=maybe", "sac.auto_alpha", "expected bool", "'maybe'"),
        ("eval_every=[1, x]", "eval_every", "expected List[int]", "[1, 'x']"),
        ("env.held_out=3", "env.held_out", "expected List[str]", "3"),
        ("algo=dqn", "algo", "expected Algo", "'dqn'"),
    ],
)
def test_wrong_type_names_key_type_and_value(override: str, key: str, expected: str, value: str) -> None:
    msg = _err(None, [override])
    assert f"wrong type for config key '{key}'" in msg
    assert expected in msg and f"got {value}" in msg


def test_other_one_line_errors(tmp_path: Path) -> None:
    assert "expected key=value" in _err(None, ["sac.gamma"])
    assert "expected key=value" in _err(None, ["=3"])
    assert "cannot be null" in _err(None, ["seed=null"]) and "seed" in _err(None, ["seed=null"])
    msg = _err(None, ["sac=3"])
    assert "config key 'sac'" in msg and "expected a mapping" in msg
    msg = _err(_yaml(tmp_path, "sac: [1, 2\n"), [])
    assert "cannot parse YAML" in msg and "line" in msg
    assert "config file not found" in _err(tmp_path / "missing.yaml", [])
    assert "expected a mapping" in _err(_yaml(tmp_path, "- 1\n- 2\n"), [])
    assert "cannot parse the value" in _err(None, ["eval_every=[1,"])


def test_validate_hooks_wrap_value_errors_with_path(tmp_path: Path) -> None:
    msg = _err(None, ["sac.gamma=1.5"])
    assert msg == "invalid config value in 'sac': gamma must be in (0, 1], got 1.5"
    msg = _err(_yaml(tmp_path, "sac:\n  n_step: 0\n"), [])
    assert "'sac'" in msg and "n_step must be >= 1" in msg
    msg = _err(None, ["algo=ppo", "lora.r=4"])
    assert msg == "invalid config value in the top level: lora is not supported with ppo"


@dataclass
class NeedsName:
    name: str = MISSING
    n: int = 1


def test_missing_required_value() -> None:
    with pytest.raises(ConfigError, match="missing required config value 'name'.*name=") as ei:
        load_config(NeedsName, None, [])
    assert "\n" not in str(ei.value)
    assert load_config(NeedsName, None, ["name=x"]).name == "x"


def test_save_and_reload_round_trip(tmp_path: Path) -> None:
    cfg = load_config(Cfg, None, ["sac.gamma=0.9", "lora.r=4", "env.kwargs.a=2", "algo=ppo", "lora=null"])
    out = save_config(cfg, tmp_path / "run" / "config.yaml")
    assert out.is_file() and "gamma: 0.9" in out.read_text()
    assert load_config(Cfg, out, []) == cfg
    d = config_to_dict(cfg)
    assert d["sac"]["gamma"] == 0.9 and d["algo"] == "ppo" and d["lora"] is None and d["env"]["kwargs"] == {"a": 2.0}


def test_parse_override() -> None:
    assert parse_override("a.b=c=d") == ("a.b", "c=d")
    assert parse_override("a=") == ("a", "")
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_override("a..b=1")


@dataclass
class MultiEnv:
    envs: Dict[str, EnvCfg] = field(default_factory=dict)


def test_dict_of_sections_checks_entry_keys(tmp_path: Path) -> None:
    path = _yaml(tmp_path, "envs:\n  a: {num_envs: 4}\n  b: {}\n")
    cfg = load_config(MultiEnv, path, ["envs.a.kwargs.x=2", "envs.c.name=wordcraft"])
    assert cfg.envs == {"a": EnvCfg(num_envs=4, kwargs={"x": 2.0}), "b": EnvCfg(), "c": EnvCfg(name="wordcraft")}
    with pytest.raises(ConfigError, match=r"unknown config key 'envs.a.num_env'.*valid keys under 'envs.a'"):
        load_config(MultiEnv, None, ["envs.a.num_env=3"])
    assert load_config(MultiEnv, save_config(cfg, tmp_path / "saved.yaml"), []) == cfg


def test_yaml_base_key_extends_another_file(tmp_path):
    from autotelic.schema import TrainConfig
    (tmp_path / "parent.yaml").write_text("seed: 7\nsac:\n  batch_size: 48\n  actor_lr: 0.01\n")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "child.yaml").write_text("base: ../parent.yaml\nsac:\n  batch_size: 16\n")
    cfg = load_config(TrainConfig, sub / "child.yaml", ["seed=3"])
    assert (cfg.seed, cfg.sac.batch_size, cfg.sac.actor_lr) == (3, 16, 0.01)
    (tmp_path / "loop.yaml").write_text("base: loop.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(TrainConfig, tmp_path / "loop.yaml")
