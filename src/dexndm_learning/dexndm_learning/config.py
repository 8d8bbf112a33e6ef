"""Typed dataclass configs loaded from YAML.

Every config in ``config/`` maps onto a dataclass. Unknown keys are an error that names the key,
the file and the valid keys, so a typo never silently falls back to a default.
"""
from __future__ import annotations

import dataclasses
import os
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A config file or mapping does not fit its schema."""


def repo_root() -> Path | None:
    """The checkout this package runs from (editable install), or None when installed elsewhere."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "config").is_dir() and (parent / "src" / "dexndm_learning").is_dir():
            return parent
    return None


def config_dir() -> Path:
    """Where learning's YAML configs live: ``$DEXNDM_CONFIG_DIR`` if set, else this package's own
    ``config/`` (package data, so an installed package finds them as a checkout does; the
    checkout's top-level ``config/`` links to it). The runtime's node parameter files belong to
    ``dexndm_control`` (``dexndm_control.ros.params.runtime_config_dir``)."""
    env = os.environ.get("DEXNDM_CONFIG_DIR")
    return Path(env) if env else Path(__file__).resolve().parent / "config"


def resolve_config(name_or_path: str | Path, subdir: str = "") -> Path:
    """A config given as a path, or as a name looked up in ``config/<subdir>/<name>.yaml``."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") and p.exists():
        return p
    base = config_dir() / subdir
    candidate = base / f"{name_or_path}.yaml"
    if candidate.exists():
        return candidate
    valid = sorted(x.stem for x in base.glob("*.yaml")) if base.is_dir() else []
    raise ConfigError(f"no config '{name_or_path}' (looked for {p} and {candidate}); valid names: {valid}")


def _is_dataclass_type(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _convert(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, where)
            except (ConfigError, TypeError, ValueError) as exc:
                errors.append(str(exc))
        raise ConfigError(f"{where}: {value!r} fits none of {tp}: {errors}")
    if _is_dataclass_type(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping for {tp.__name__}, got {type(value).__name__}")
        return from_dict(tp, value, where)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{where}: expected {len(args)} items, got {len(value)}")
            return tuple(_convert(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        out = [_convert(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        kt, vt = args if args else (Any, Any)
        return {_convert(k, kt, where): _convert(v, vt, f"{where}.{k}") for k, v in value.items()}
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if isinstance(tp, type) and issubclass(tp, Path):
        return Path(value)
    return value


def from_dict(cls: type[T], data: dict, where: str = "") -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys raise ConfigError naming valid keys."""
    where = where or cls.__name__
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; valid keys: {sorted(fields)}")
    kwargs = {k: _convert(v, hints[k], f"{where}.{k}") for k, v in data.items()}
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:     # a missing field, or a dataclass's own check
        raise ConfigError(f"{where}: {exc}") from exc


def read_yaml_with_base(path: Path, _chain: tuple[Path, ...] = ()) -> dict:
    """The mapping in ``path``; with a top-level ``base: <name>`` it is merged over that config
    first (``<name>.yaml`` in the same folder, or a path relative to it), so a variant states only
    what differs. Bases may have bases; a cycle or a missing base is an error naming the file."""
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    if "base" not in data:
        return data
    name = data.pop("base")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{path}: base: expected the name of a config in the same folder, got {name!r}")
    base = path.parent / (name if name.endswith((".yaml", ".yml")) else f"{name}.yaml")
    if not base.is_file():
        raise ConfigError(f"{path}: base: no config {base}")
    chain = (*_chain, path.resolve())
    if base.resolve() in chain:
        raise ConfigError(f"{path}: base: {name} leads back to itself ({' -> '.join(p.name for p in chain)})")
    return _merge(read_yaml_with_base(base, chain), data)


def load_yaml(cls: type[T], path: str | Path, overrides: dict | None = None) -> T:
    """Load ``path`` (over its ``base``, if it names one) into dataclass ``cls``, keys of
    ``overrides`` replacing the file's (nested mappings merge key by key); errors name the file."""
    path = Path(path)
    data = read_yaml_with_base(path)
    root = f"{path} (with overrides of {', '.join(sorted(overrides))})" if overrides else str(path)
    try:
        return from_dict(cls, _merge(data, overrides or {}), where=root)
    except ConfigError as exc:
        # "<file>: env.num_envs: ..." rather than "<file>.env.num_envs: ..."
        message = str(exc)
        if message.startswith(root + "."):
            raise ConfigError(f"{root}: {message[len(root) + 1:]}") from None
        raise


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def dotted_overrides(pairs: list[str]) -> dict:
    """``["env.num_envs=64", "ppo.learning_rate=1e-4"]`` -> nested overrides for ``load_yaml``;
    values are read as YAML (numbers, true/false, lists), names are checked by the loader."""
    out: dict = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {pair!r}: expected KEY=VALUE, e.g. env.num_envs=64")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {pair!r}: cannot read the value: {exc}") from exc
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def add_set_option(parser) -> None:
    """``--set KEY=VALUE ...``: any field of the command's config, dotted for nested ones."""
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                        help="override config fields, e.g. --set env.num_envs=64 ppo.learning_rate=1e-4")


SCALARS = (int, float, str, bool)


def add_field_options(parser, cls: type, exclude: tuple[str, ...] = ()) -> list[str]:
    """One ``--field-name`` option for each scalar field of dataclass ``cls`` (help: its default);
    an option left out keeps the config's value. Returns the field names."""
    hints = typing.get_type_hints(cls)
    names = []
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        union = typing.get_origin(tp) in (typing.Union, types.UnionType)
        base = next((a for a in typing.get_args(tp) if a is not type(None)), None) if union else tp
        if f.name in exclude or base not in SCALARS:
            continue
        default = f.default if f.default is not dataclasses.MISSING else None
        parser.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, default=None, metavar=base.__name__.upper(),
                            type=(lambda text: yaml.safe_load(text)) if base is bool else base,
                            help=f"default {default!r}")
        names.append(f.name)
    return names


def given_options(args, names: list[str]) -> dict:
    """The options of ``add_field_options`` that were given on the command line."""
    return {n: getattr(args, n) for n in names if getattr(args, n) is not None}


def to_dict(obj: Any) -> Any:
    """Dataclass -> plain YAML-able structure (for run folders that record the resolved config)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, Path):
        return str(obj)
    return obj
