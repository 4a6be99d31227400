"""A subset match of JSON state, in FRR topotests' json_cmp style: what is expected must be there with
the same value, anything else may be there too; `None` expects a key to be absent; a list expects each
of its items to match some item of the actual list, in any order. Differences come back as readable
lines naming the path ("peers.10.0.0.1.state: expected 'Established', got 'Active'"), [] on a match.
"""

from __future__ import annotations

from typing import Any

_MOST = 20  # differences reported at most (the first ones)


def _at(path: str, key: object) -> str:
    return f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}" if path else str(key)


def json_cmp(actual: Any, expected: Any, path: str = "") -> list[str]:
    """What of `expected` is not in `actual`."""
    out: list[str] = []
    _compare(actual, expected, path, out)
    return out[:_MOST]


def _compare(actual: Any, expected: Any, path: str, out: list[str]) -> None:
    where = path or "(top)"
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            out.append(f"{where}: expected an object, got {_show(actual)}")
            return
        for key, want in expected.items():
            if want is None:
                if key in actual:
                    out.append(f"{_at(path, key)}: expected absent, got {_show(actual[key])}")
            elif key not in actual:
                out.append(f"{_at(path, key)}: expected {_show(want)}, absent")
            else:
                _compare(actual[key], want, _at(path, key), out)
        return
    if isinstance(expected, list):
        if not isinstance(actual, list):
            out.append(f"{where}: expected a list, got {_show(actual)}")
            return
        unmatched = list(actual)
        for i, want in enumerate(expected):
            match = next((j for j, item in enumerate(unmatched) if not json_cmp(item, want)), None)
            if match is None:
                out.append(f"{_at(path, i)}: expected an item matching {_show(want)}, none found")
            else:
                unmatched.pop(match)
        return
    if actual != expected or (type(actual) is not type(expected) and not _numbers(actual, expected)):
        out.append(f"{where}: expected {_show(expected)}, got {_show(actual)}")


def _numbers(a: Any, b: Any) -> bool:
    return isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool | str)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
