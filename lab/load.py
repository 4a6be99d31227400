"""Read a lab file (a path or a built-in name) into the typed model, with user-readable errors."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from lab.errors import LabError, LabWarning, Problem, field_path
from lab.model import MAX_LAB_NAME, LabFile
from lab.paths import builtin_topologies
from lab.rules import check
from lab.rules.warnings import warnings
from lab.topology import Topology, build


def resolve_named(name: str, builtins: dict[str, Path], what: str) -> Path:
    """A path to an existing file, or the name of a built-in (topology, scenario)."""
    path = Path(name)
    if path.is_file():
        return path
    if name in builtins:
        return builtins[name]
    if path.suffix in (".yml", ".yaml") or "/" in name:
        raise LabError(name, [Problem("", f"no such file (give a {what} file path or a built-in name)")])
    names = ", ".join(sorted(builtins))
    raise LabError(name, [Problem("", f"not a file nor a built-in {what} (built-ins: {names})")])


def resolve_source(lab: str) -> Path:
    return resolve_named(lab, builtin_topologies(), "topology")


class _DuplicateKey(Exception):
    def __init__(self, key: object, line: int) -> None:
        super().__init__(key, line)
        self.key, self.line = key, line


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice is an error, not "the last one wins"."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[object] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                if key in seen:
                    raise _DuplicateKey(key, key_node.start_mark.line + 1)
                seen.add(key)
            except TypeError:  # an unhashable key: PyYAML reports it below
                pass
        return super().construct_mapping(node, deep=deep)


def read(lab: str) -> tuple[LabFile, str]:
    """Parse and type-check a lab file; return the model and the name to use in messages."""
    path = resolve_source(lab)
    source = path.name
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # a SafeLoader
    except _DuplicateKey as exc:
        twice = Problem("", f"line {exc.line}: '{exc.key}' is given twice (keep one)")
        raise LabError(source, [twice]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or exc
        raise LabError(source, [Problem("", f"{where}not valid YAML ({problem})")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LabError(source, [Problem("", f"cannot read the file ({exc})")]) from None
    return parse(data, source, default_name=path.stem), source


def load(lab: str) -> Topology:
    """A lab file or built-in name, parsed, checked against Azure's rules and resolved."""
    model, source = read(lab)
    check(model, source)
    return build(model)


@dataclass
class Loaded:
    topo: Topology
    source: str  # the name messages use
    warnings: list[LabWarning]

    def warning_lines(self) -> list[str]:
        return [w.line(self.source) for w in self.warnings]


def load_with_warnings(lab: str) -> Loaded:
    """`load`, and the traps the lab file falls into (`lab.rules.warnings`): for the commands that show them."""
    model, source = read(lab)
    check(model, source)
    return Loaded(build(model), source, warnings(model))


def parse(data: Any, source: str, default_name: str) -> LabFile:
    if not isinstance(data, dict):
        raise LabError(source, [Problem("", "the lab file must be a mapping with vnet and onprem (see README)")])
    try:
        model = LabFile.model_validate(data)
    except ValidationError as exc:
        raise LabError(source, [validation_problem(e) for e in exc.errors()]) from None
    if model.name is None:
        model = model.model_copy(update={"name": _lab_name(default_name)})
    return model


def _lab_name(stem: str) -> str:
    """A file stem made into a valid lab name (lower case, letters, digits and dashes)."""
    # ASCII only: "café" must not slip a name past the model's pattern (model_copy does not validate).
    cleaned = "".join(c if c.isascii() and c.isalnum() else "-" for c in stem.lower()).strip("-")
    while "--" in cleaned:
        cleaned = cleaned.replace("--", "-")
    if not cleaned or not cleaned[0].isalpha():
        cleaned = "lab-" + cleaned
    return cleaned[:MAX_LAB_NAME].rstrip("-")


def _fields_at(loc: Sequence[str | int]) -> list[str]:
    """The field names of the model found at `loc` (list indexes skipped), for spelling suggestions."""
    model: type[BaseModel] = LabFile
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        nested = _model_in(field.annotation)
        if nested is None:
            return []
        model = nested
    return list(model.model_fields)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model class inside an annotation such as `Site`, `list[Site]` or `ExpressRoute | None`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def validation_problem(err: ErrorDetails) -> Problem:
    """One pydantic validation error as a Problem a user can act on (lab files, scenarios)."""
    loc = [p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function-")))]
    path = field_path(loc)
    kind = err["type"]
    ctx = err.get("ctx", {})
    value = err.get("input")
    if kind == "value_error":
        return Problem(path, str(ctx.get("error", err["msg"])))
    if kind == "missing":
        return Problem(path, "is required (add it)")
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(str(loc[-1]), _fields_at(loc[:-1]), n=1) if loc else []
        if close:
            return Problem(path, f"unknown field (did you mean {close[0]}?)")
        return Problem(path, "unknown field (remove it or check its spelling)")
    if kind == "literal_error":
        return Problem(path, f"{value!r} is not allowed (use one of {ctx.get('expected', '')})")
    if kind == "string_pattern_mismatch":
        return Problem(
            path, f"{value!r} is not a valid name (lower-case letters, digits and dashes, starting with a letter)"
        )
    if kind == "string_too_long":
        return Problem(path, f"{value!r} is too long (use at most {ctx.get('max_length')} characters)")
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        bound = {
            "greater_than_equal": "at least",
            "less_than_equal": "at most",
            "greater_than": "more than",
            "less_than": "less than",
        }[kind]
        limit = next(iter(ctx.values()), "")
        return Problem(path, f"{value!r} is out of range (use {bound} {limit})")
    if kind == "too_short":
        least = ctx.get("min_length")
        return Problem(path, "must not be empty (add one)" if least == 1 else f"needs at least {least} items")
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return Problem(path, f"{value!r} is not a whole number (write a number like 65010)")
    if kind in ("float_parsing", "float_type"):
        return Problem(path, f"{value!r} is not a number")
    if kind in ("bool_parsing", "bool_type"):
        return Problem(path, f"{value!r} is not true or false")
    if kind in ("list_type",):
        return Problem(path, "must be a list (write it as [a, b] or one '- item' per line)")
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return Problem(path, "must be a mapping of fields (key: value)")
    if kind in ("string_type",):
        return Problem(path, f"{value!r} must be a string")
    return Problem(path, f"{err['msg'][0].lower()}{err['msg'][1:]}")
