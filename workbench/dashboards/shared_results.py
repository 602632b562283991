"""Analysis results shared by every dashboard kernel of one store: a folder of pickled results beside it.

Each manager's page runs in its own kernel, and each kernel keeps its results in memory
(:class:`workbench.dashboards.common.ResultCache`). Without a shared place, every kernel computes the
same city, split or campaign again, and a filter value no kernel has seen costs a full analysis. With
it, a result computed once (by any kernel, or ahead of time by :mod:`workbench.dashboards.warm`) is read
back in milliseconds by every other.

    shared = SharedResults.for_store(db)      # None when the store cannot have one (see below)
    shared.load("weekly_kpis", frozen_params) # MISSING when not there
    shared.save("weekly_kpis", frozen_params, result)

Where: ``$WORKBENCH_CACHE`` if set (``off`` turns sharing off), else ``.workbench-cache/`` beside the
store file. One sub-folder per state of the store and of the code, ``<store name>-<fingerprint>``: the
fingerprint covers the store file's path, size and modification time (and its write-ahead log's), the
workbench's source files, and the pandas and Python versions that wrote the pickles. A load of new data
or a new release of the code therefore starts an empty folder, and folders of earlier states are
removed after PRUNE_AFTER_S.

Only stores opened read-only share results (as the dashboards open them): a store opened for writing may
change under a result between two queries. The results hold what the dashboards show (aggregates, and
hashed member ids in the wake-up list), never phone numbers or names, which the store itself does not hold.
The folder should be as private as the store: anyone who can write to it can make the dashboards load
what they wrote.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import platform
import shutil
import threading
import time
from functools import lru_cache
from pathlib import Path

import pandas as pd

import workbench

CACHE_ENV = "WORKBENCH_CACHE"
FOLDER_NAME = ".workbench-cache"
# Folders of earlier store or code states are removed once this old (a server still running on the old
# state keeps writing to its own folder until then).
PRUNE_AFTER_S = 24 * 3600
OFF_VALUES = ("off", "0", "no", "false", "none")


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()


@lru_cache(maxsize=1)
def code_version() -> str:
    """A digest of the workbench's source files (name, size, modification time) and of the versions that
    write and read the pickles: results computed by other code are never read back."""
    root = Path(workbench.__file__).resolve().parent
    h = hashlib.sha1()
    h.update(f"{workbench.__version__}|{pd.__version__}|{platform.python_version()}".encode())
    for path in sorted(root.rglob("*.py")):
        st = path.stat()
        h.update(f"{path.relative_to(root)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def store_fingerprint(path: Path) -> str:
    """A digest of the store file's resolved path, size and modification time (and its .wal's)."""
    path = Path(path).resolve()
    h = hashlib.sha1(str(path).encode())
    for part in (path, path.with_name(path.name + ".wal")):
        try:
            st = part.stat()
        except FileNotFoundError:
            continue
        h.update(f"|{part.name}|{st.st_size}|{st.st_mtime_ns}".encode())
    h.update(code_version().encode())
    return h.hexdigest()[:16]


class SharedResults:
    """Pickled analysis results in ``folder``, one file per (analysis name, parameters)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    @classmethod
    def for_store(cls, db) -> SharedResults | None:
        """The shared folder of a DuckDB store opened read-only; None for other stores, when
        ``$WORKBENCH_CACHE`` is ``off``, or when the folder cannot be created."""
        setting = os.environ.get(CACHE_ENV, "").strip()
        path = getattr(db, "path", None)
        if setting.lower() in OFF_VALUES or path is None or not getattr(db, "read_only", False):
            return None
        root = Path(setting).expanduser() if setting else Path(path).resolve().parent / FOLDER_NAME
        folder = root / f"{Path(path).stem}-{store_fingerprint(path)}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            return None
        if not os.access(folder, os.W_OK):
            return None
        _prune(root, Path(path).stem, keep=folder)
        return cls(folder)

    def file(self, name: str, frozen) -> Path | None:
        """The file of one result; None when the parameters have no stable text (an object's address)."""
        text = repr((name, frozen))
        if " at 0x" in text:
            return None
        return self.folder / f"{name}-{hashlib.sha1(text.encode()).hexdigest()[:20]}.pkl"

    def load(self, name: str, frozen):
        """The saved result, or MISSING (also for a file that cannot be read, which is then removed)."""
        target = self.file(name, frozen)
        if target is None:
            return MISSING
        try:
            with open(target, "rb") as f:
                value = pickle.load(f)
        except FileNotFoundError:
            return MISSING
        except Exception:  # noqa: BLE001 - a truncated or foreign file is computed again
            target.unlink(missing_ok=True)
            return MISSING
        return value

    def save(self, name: str, frozen, value) -> bool:
        """Write a result (atomically: readers see the whole file or none); False when it cannot be."""
        target = self.file(name, frozen)
        if target is None:
            return False
        tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            with open(tmp, "wb") as f:
                pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, target)
        except Exception:  # noqa: BLE001 - a result that cannot be shared is still shown
            tmp.unlink(missing_ok=True)
            return False
        return True


def _prune(root: Path, stem: str, *, keep: Path) -> None:
    now = time.time()
    for old in root.glob(f"{stem}-*"):
        if old == keep or not old.is_dir():
            continue
        try:
            if now - old.stat().st_mtime > PRUNE_AFTER_S:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            continue
