"""Wheels rebuilt offline from distributions installed in gwlab's own environment.

The node image must run the same ExaBGP as the venv. Rebuilding the wheel from the installed files
(their RECORD) gives exactly those files, with no index to reach and no version drift between what
pip would download today and what the venv holds. pip itself comes the same way, to install it
inside the image's chroot (Debian's python3 there has no pip, and none is left in the image).
"""

from __future__ import annotations

import base64
import configparser
import hashlib
import importlib.metadata
import json
import re
import zipfile
from pathlib import Path, PurePosixPath

from lab.errors import GwlabError

_SKIPPED_META = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed: the same files give the same wheel bytes


def _digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _add(whl: zipfile.ZipFile, arcname: str, data: bytes) -> None:
    info = zipfile.ZipInfo(arcname, _ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    whl.writestr(info, data)


def _console_scripts(dist: importlib.metadata.Distribution) -> set[str]:
    text = dist.read_text("entry_points.txt") or ""
    parser = configparser.ConfigParser(delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    return {
        key for section in ("console_scripts", "gui_scripts") if parser.has_section(section) for key in parser[section]
    }


def rebuild(name: str, dest: Path) -> Path:
    """Write <dest>/<name>-<version>-<tag>.whl from the installed distribution `name`; returns its path.

    Files the installer generated are left out (console scripts, byte code, RECORD, INSTALLER): pip
    makes them again when it installs the wheel. Data files (outside site-packages) go in .data/data/."""
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        raise GwlabError(f"{name} is not installed in gwlab's environment (run 'make setup')") from None
    version = dist.version
    direct = json.loads(dist.read_text("direct_url.json") or "{}")
    if direct.get("dir_info", {}).get("editable"):
        raise GwlabError(f"{name} {version} is installed in editable mode: install it normally to put it in an image")
    files = dist.files
    wheel_meta = dist.read_text("WHEEL") or ""
    tags = re.findall(r"^Tag:\s*(\S+)", wheel_meta, flags=re.M)
    if files is None or not tags or "Root-Is-Purelib: true" not in wheel_meta:
        raise GwlabError(f"{name} {version} was not installed from a pure-Python wheel (reinstall it with pip)")
    base = Path(str(dist.locate_file("")))
    scripts = _console_scripts(dist)
    dist_name = re.sub(r"[-_.]+", "_", dist.metadata["Name"])
    data_dir = f"{dist_name}-{version}.data/data"
    out = dest / f"{dist_name}-{version}-{tags[0]}.whl"
    dest.mkdir(parents=True, exist_ok=True)
    record: list[str] = []
    info_dir = ""
    with zipfile.ZipFile(out, "w") as whl:
        for entry in sorted(files, key=str):
            rel = PurePosixPath(str(entry))
            if rel.suffix == ".pyc" or "__pycache__" in rel.parts:
                continue
            if rel.parts[0] == "..":  # outside site-packages: a script or a data file, relative to the prefix
                inside = PurePosixPath(*[p for p in rel.parts if p != ".."])
                if inside.parts[0] == "bin" and inside.name in scripts:
                    continue
                arcname = f"{data_dir}/{inside}"
            else:
                if rel.parts[0].endswith(".dist-info"):
                    info_dir = rel.parts[0]
                    if rel.name in _SKIPPED_META:
                        continue
                arcname = str(rel)
            data = (base / str(rel)).read_bytes()
            _add(whl, arcname, data)
            record.append(f"{arcname},{_digest(data)},{len(data)}")
        if not info_dir:
            raise GwlabError(f"{name} {version}: no .dist-info among its files (reinstall it with pip)")
        record.append(f"{info_dir}/RECORD,,")
        _add(whl, f"{info_dir}/RECORD", ("\n".join(record) + "\n").encode())
    return out
