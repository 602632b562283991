"""manifest.json of a weekly report: what ran, on which data, with which versions, how long it took.

The data fingerprint identifies the data a report was computed from without reading a row: the row count
and latest timestamp of every contract table, the quarantined rows and the store's settings (``_meta``),
hashed. The same week run twice on the same data has the same fingerprint (and the same numbers).
"""

from __future__ import annotations

import hashlib
import json
import platform
from importlib import metadata

import pandas as pd

from workbench.data.store import Store, read_meta

# Packages whose versions can change a number or a page of the report.
PACKAGES = (
    "workbench", "pandas", "numpy", "ibis-framework", "duckdb", "scipy", "statsmodels", "lifelines",
    "plotly", "papermill", "nbconvert", "kaleido", "openpyxl",
)  # fmt: skip
# Newest timestamp column of each table (what moves when data is appended).
LATEST_COLUMN = {
    "orders": "ordered_at",
    "members": "joined_at",
    "campaigns": "starts_at",
    "assignments": "assigned_at",
    "coupons": "issued_at",
    "group_members": "joined_at",
    "touches": "sent_at",
    "groups": "created_at",
}


def data_fingerprint(db: Store) -> dict:
    """{'sha256': ..., 'tables': {table: {'rows': n, 'latest': iso or None}}, 'quarantined': n, 'meta': {...}}.

    Row counts and latest timestamps are computed in the engine (one aggregate per table).
    """
    tables = {}
    for name in db.tables:
        t = db.table(name)
        column = LATEST_COLUMN.get(name)
        if column and column in t.columns:
            row = t.aggregate(rows=t.count(), latest=t[column].max()).to_pandas().iloc[0]
            latest = None if pd.isna(row["latest"]) else pd.Timestamp(row["latest"]).isoformat()
        else:
            row, latest = {"rows": t.count().to_pyarrow().as_py()}, None
        tables[name] = {"rows": int(row["rows"]), "latest": latest}
    meta = {str(k): str(v) for k, v in sorted(read_meta(db.backend).items())}
    body = {"tables": tables, "quarantined": db.quarantined(), "meta": meta}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()
    return {"sha256": digest, **body}


def package_versions() -> dict[str, str]:
    """Versions of PACKAGES installed (missing ones left out) and of Python."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def write_manifest(path, manifest: dict) -> None:
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
