"""Generic config machinery: a schema is nested dataclasses; values come from defaults < YAML file < overrides.

``load_config(Schema, "configs/x.yaml", ["sac.gamma=0.95", "env.kwargs.n=3"])`` builds
``OmegaConf.structured(Schema)``, applies the file then ``key=value`` overrides one key at a time (so every error
names its key and where it came from), converts to the dataclass instance and finally calls ``validate()`` on every
nested dataclass that defines it (children before parents). Every problem is a :class:`ConfigError` with one line.
"""
from __future__ import annotations

import dataclasses
import difflib
import functools
import os
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf import errors as oc_errors

from .atomic import atomic_write_text

__all__ = ["ConfigError", "config_to_dict", "load_config", "parse_override", "save_config"]

T = TypeVar("T")


class ConfigError(ValueError):
    """A config problem, described on one line naming the key, what was expected and what was given."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))  # always a single line


@functools.lru_cache(maxsize=1)
def _yaml_loader() -> Any:
    """OmegaConf's YAML loader (reads 1e-3 as a float, rejects duplicate keys); SafeLoader as a fallback."""
    for mod in ("omegaconf._yaml", "omegaconf._utils"):
        try:
            return __import__(mod, fromlist=["get_yaml_loader"]).get_yaml_loader()
        except (ImportError, AttributeError):
            continue
    return yaml.SafeLoader


# ----------------------------------------------------------------------------------------------------------------
# Schema introspection
# ----------------------------------------------------------------------------------------------------------------
_SECTION, _MAPPING, _LIST, _FREE, _LEAF = "section", "mapping", "list", "free", "leaf"


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin is typing.Union or (hasattr(types, "UnionType") and origin is types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        optional = len(args) < len(typing.get_args(tp))
        if len(args) == 1:
            return args[0], optional
        return tp, optional
    return tp, False


def _kind(tp: Any) -> str:
    if tp is Any:
        return _FREE
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _SECTION
    origin = typing.get_origin(tp) or tp
    if isinstance(origin, type) and issubclass(origin, Mapping):
        return _MAPPING
    if isinstance(origin, type) and issubclass(origin, (list, tuple)) and origin is not str:
        return _LIST
    return _LEAF


@functools.lru_cache(maxsize=None)
def _fields(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(cls)}


def _all_keys(schema: type, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every dotted key of the schema's sections (not below mappings)."""
    out = []
    for name, tp in _fields(schema).items():
        inner = _unwrap_optional(tp)[0]
        out.append((*prefix, name))
        if _kind(inner) == _SECTION:
            out += _all_keys(inner, (*prefix, name))
    return out


def _close_keys(schema: type, part: str) -> list[str]:
    """Dotted keys anywhere in the schema whose last component is close to ``part`` (at most two)."""
    keys = _all_keys(schema)
    names = sorted({k[-1] for k in keys})
    close = set(difflib.get_close_matches(part, names, n=2, cutoff=0.75))
    return [_dotted(k) for k in keys if k[-1] in close][:2]


def _type_name(tp: Any) -> str:
    inner, optional = _unwrap_optional(tp)
    if isinstance(inner, type) and typing.get_origin(inner) is None:
        name = inner.__name__
    else:
        name = str(inner).replace("typing.", "")
    return f"{name} or null" if optional else name


def _dotted(path: Sequence[str]) -> str:
    return ".".join(path)


def _resolve_key(schema: type, path: Sequence[str], source: str) -> tuple[Any, str]:
    """Field type and kind at ``path``; ConfigError for unknown keys or keys below a plain value."""
    tp: Any = schema
    for i, part in enumerate(path):
        inner, _ = _unwrap_optional(tp)
        kind = _kind(inner)
        if kind == _SECTION:
            fields = _fields(inner)
            if part not in fields:
                here = _dotted(path[:i])
                valid = ", ".join(fields) or "(none)"
                close = difflib.get_close_matches(part, list(fields), n=1)
                if close:
                    hint = f"; did you mean '{_dotted([*path[:i], close[0]])}'?"
                else:  # the key may live in another section (γ is her.gamma, not sac.gamma)
                    near = _close_keys(schema, part)
                    hint = f"; did you mean {' or '.join(repr(k) for k in near)}?" if near else ""
                where = f"valid keys under '{here}'" if here else "valid top-level keys"
                raise ConfigError(f"unknown config key '{_dotted(path)}'{source}{hint} {where}: {valid}")
            tp = fields[part]
        elif kind == _MAPPING:  # any key; its value has the mapping's value type
            args = typing.get_args(inner)
            tp = args[1] if len(args) == 2 else Any
        elif kind in (_FREE, _LIST):  # free-form below (omegaconf checks values and indices)
            return Any, _FREE
        else:
            raise ConfigError(
                f"config key '{_dotted(path[:i])}' is a value of type {_type_name(tp)}, not a section, "
                f"so '{_dotted(path)}' does not exist{source}"
            )
    return tp, _kind(_unwrap_optional(tp)[0])


# ----------------------------------------------------------------------------------------------------------------
# Collecting assignments from a YAML file and from overrides
# ----------------------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class _Assignment:
    path: tuple[str, ...]
    value: Any
    source: str  # " (from ...)" fragment for messages


def _flatten(schema: type, prefix: tuple[str, ...], data: Any, source: str, out: list[_Assignment]) -> None:
    """Split ``data`` for the key ``prefix`` into leaf assignments, descending into dataclass sections."""
    tp, kind = _resolve_key(schema, prefix, source) if prefix else (schema, _SECTION)
    if kind == _SECTION:
        if isinstance(data, Mapping):
            if not data and prefix:
                out.append(_Assignment(prefix, {}, source))  # creates the section when absent
                return
            for k, v in data.items():
                if not isinstance(k, str):
                    raise ConfigError(f"config key {k!r} under '{_dotted(prefix) or '<top level>'}' must be a string{source}")
                _flatten(schema, (*prefix, *k.split(".")), v, source, out)
            return
        if data is None and prefix and _unwrap_optional(tp)[1]:
            out.append(_Assignment(prefix, None, source))
            return
        what = f"config key '{_dotted(prefix)}'" if prefix else "the top level of the config"
        raise ConfigError(
            f"wrong type for {what}: expected a mapping (section {_type_name(tp)}), "
            f"got {data!r:.80} ({type(data).__name__}){source}"
        )
    if kind == _MAPPING and isinstance(data, Mapping) and data:
        value_tp = (typing.get_args(_unwrap_optional(tp)[0]) or (None, Any))[-1]
        if _kind(_unwrap_optional(value_tp)[0]) == _SECTION:  # e.g. Dict[str, EnvCfg]: check each entry's keys
            for k, v in data.items():
                _flatten(schema, (*prefix, str(k)), v, source, out)
            return
    out.append(_Assignment(prefix, data, source))


def parse_override(text: str) -> tuple[str, str]:
    """Split ``"a.b=value"`` into ``("a.b", "value")``; ConfigError naming the expected form otherwise."""
    if not isinstance(text, str) or "=" not in text:
        raise ConfigError(f"malformed override {text!r}: expected key=value, e.g. sac.gamma=0.99")
    key, raw = text.split("=", 1)
    key = key.strip()
    parts = key.split(".")
    if not key or any(not p or p != p.strip() or " " in p for p in parts):
        raise ConfigError(f"malformed override {text!r}: expected key=value with a dotted key, e.g. sac.gamma=0.99")
    return key, raw


def _parse_value(raw: str, tp: Any, text: str) -> Any:
    """YAML-parse an override value; for str fields keep the text verbatim unless quoted or null."""
    inner, optional = _unwrap_optional(tp)
    stripped = raw.strip()
    if inner is str:
        if optional and stripped in ("null", "~"):
            return None
        if not (len(stripped) >= 2 and stripped[0] == stripped[-1] and stripped[0] in "'\""):
            return raw
    try:
        return yaml.load(raw, Loader=_yaml_loader())
    except yaml.YAMLError as e:
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"cannot parse the value of override {text!r}: {problem}") from e


# ----------------------------------------------------------------------------------------------------------------
# Applying assignments
# ----------------------------------------------------------------------------------------------------------------
def _ensure_sections(cfg: DictConfig, schema: type, path: tuple[str, ...], upto: int) -> None:
    """Create absent/None sections among the first ``upto`` prefixes of ``path`` (``lora.r=8`` when lora=None,
    ``envs.new.n=1`` for a ``Dict[str, EnvCfg]``)."""
    for i in range(1, upto + 1):
        tp, kind = _resolve_key(schema, path[:i], "")
        if kind != _SECTION:
            continue
        key = _dotted(path[:i])
        if OmegaConf.select(cfg, key, default=None, throw_on_missing=False) is None:
            OmegaConf.update(cfg, key, OmegaConf.structured(_unwrap_optional(tp)[0]), merge=False)


def _assign(cfg: DictConfig, schema: type, a: _Assignment) -> None:
    key = _dotted(a.path)
    tp, kind = _resolve_key(schema, a.path, a.source)
    empty_section = kind == _SECTION and isinstance(a.value, Mapping) and not a.value
    _ensure_sections(cfg, schema, a.path, len(a.path) if empty_section else len(a.path) - 1)
    if empty_section:
        return
    # an empty mapping for a mapping key clears it ('model.kwargs={}'); other mappings merge into what is there
    replace = kind == _MAPPING and isinstance(a.value, Mapping) and not a.value
    try:
        OmegaConf.update(cfg, key, a.value, merge=not replace)
    except oc_errors.OmegaConfBaseException as e:
        first = (getattr(e, "msg", None) or str(e)).strip().splitlines()[0]
        expected = _type_name(tp) if kind != _FREE else "a compatible value"
        if a.value is None:
            raise ConfigError(f"config key '{key}' cannot be null (expected {expected}){a.source}") from None
        if not isinstance(e, oc_errors.ValidationError):
            raise ConfigError(f"cannot set config key '{key}' to {a.value!r:.80}: {first}{a.source}") from None
        detail = ""
        full_key = getattr(e, "full_key", None)
        if full_key and full_key != key:
            detail = f" [at {full_key}: {first}]"
        raise ConfigError(
            f"wrong type for config key '{key}': expected {expected}, got {a.value!r:.80} "
            f"({type(a.value).__name__}){detail}{a.source}"
        ) from None


def _load_yaml_file(path: str | os.PathLike) -> Any:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        with open(p, encoding="utf-8") as f:
            return yaml.load(f, Loader=_yaml_loader())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"cannot parse YAML config {p}{where}: {problem}") from e


# ----------------------------------------------------------------------------------------------------------------
# Validation hooks
# ----------------------------------------------------------------------------------------------------------------
def _run_validate(obj: Any, path: str) -> None:
    """Call ``validate()`` on every nested dataclass (children first); wrap ValueErrors with the key path."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            _run_validate(getattr(obj, f.name), f"{path}.{f.name}" if path else f.name)
        hook = getattr(obj, "validate", None)
        if callable(hook):
            try:
                hook()
            except ConfigError:
                raise
            except ValueError as e:
                where = f"'{path}'" if path else "the top level"
                raise ConfigError(f"invalid config value in {where}: {e}") from e
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _run_validate(v, f"{path}[{i}]")
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _run_validate(v, f"{path}.{k}" if path else str(k))


# ----------------------------------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------------------------------
def _yaml_chain(path: str | os.PathLike | None, seen: tuple[str, ...] = ()) -> list[tuple[str, dict]]:
    """The YAML file at ``path`` preceded by the files it extends: a top-level ``base: other.yaml`` key (relative
    to the file's folder) loads that file first, so a config only states what differs from its base."""
    if path is None:
        return []
    real = os.path.realpath(path)
    if real in seen:
        raise ConfigError(f"config files extend each other in a cycle: {' -> '.join(seen + (real,))}")
    data = _load_yaml_file(path)
    if data is None:
        return []
    if not isinstance(data, dict) or "base" not in data:
        return [(str(path), data)]
    data = dict(data)
    base = data.pop("base")
    if not isinstance(base, str):
        raise ConfigError(f"'base' in {path} must be a YAML file name, got {base!r}")
    base_path = os.path.join(os.path.dirname(str(path)), base)
    if not os.path.isfile(base_path):
        raise ConfigError(f"'base: {base}' in {path}: no such file {base_path}")
    return _yaml_chain(base_path, seen + (real,)) + [(str(path), data)]


def load_config(schema_cls: type[T], path: str | os.PathLike | None = None, overrides: Iterable[str] = ()) -> T:
    """Build a ``schema_cls`` instance from defaults, the YAML file at ``path`` (after the files it extends with
    ``base:``) and ``key=value`` overrides."""
    if not (isinstance(schema_cls, type) and dataclasses.is_dataclass(schema_cls)):
        raise TypeError(f"schema_cls must be a dataclass type, got {schema_cls!r}")
    if isinstance(overrides, str):
        raise TypeError("overrides must be a list of 'key=value' strings, not a single string")
    cfg = OmegaConf.structured(schema_cls)

    assignments: list[_Assignment] = []
    for file, data in _yaml_chain(path):
        _flatten(schema_cls, (), data, f" (in {file})", assignments)
    for text in overrides:
        key, raw = parse_override(text)
        source = f" (from override {text!r})"
        parts = tuple(key.split("."))
        tp, _ = _resolve_key(schema_cls, parts, source)
        _flatten(schema_cls, parts, _parse_value(raw, tp, text), source, assignments)
    for a in assignments:
        _assign(cfg, schema_cls, a)

    try:
        obj = OmegaConf.to_object(cfg)
    except oc_errors.MissingMandatoryValue as e:
        key = getattr(e, "full_key", None) or "?"
        raise ConfigError(f"missing required config value '{key}': set it in the YAML file or with {key}=...") from None
    except oc_errors.OmegaConfBaseException as e:
        key = getattr(e, "full_key", None)
        first = (getattr(e, "msg", None) or str(e)).strip().splitlines()[0]
        raise ConfigError(f"invalid config{f' at {key!r}' if key else ''}: {first}") from None
    except (ValueError, TypeError) as e:  # raised by a dataclass __post_init__
        raise ConfigError(f"invalid config: {e}") from e
    _run_validate(obj, "")
    return obj  # type: ignore[return-value]


def _as_omegaconf(cfg: Any) -> DictConfig:
    if isinstance(cfg, (DictConfig, ListConfig)):
        return cfg  # type: ignore[return-value]
    if (dataclasses.is_dataclass(cfg) and not isinstance(cfg, type)) or isinstance(cfg, Mapping):
        return OmegaConf.structured(cfg) if dataclasses.is_dataclass(cfg) else OmegaConf.create(dict(cfg))
    raise TypeError(f"expected a config dataclass instance, DictConfig or dict, got {type(cfg).__qualname__}")


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """Plain nested dict of a config (interpolations resolved, enums as names)."""
    out = OmegaConf.to_container(_as_omegaconf(cfg), resolve=True, enum_to_str=True)
    assert isinstance(out, dict)
    return out  # type: ignore[return-value]


def save_config(cfg: Any, path: str | os.PathLike) -> Path:
    """Write the resolved config as YAML (atomically: temp file + rename); returns the path."""
    text = OmegaConf.to_yaml(OmegaConf.create(config_to_dict(cfg)))
    return atomic_write_text(path, text)
