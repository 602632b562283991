"""Results shared on disk by every dashboard kernel of a store, and the warm run that fills them.

Each test opens "a new kernel" by connecting the store again and dropping the per-kernel caches, as
Voila's next page would. The numbers a kernel shows from shared results are compared with those a kernel
computed itself and with the analysis called directly.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import warnings

import pytest

import workbench as wb
from workbench.analyses.churn import churn_survival
from workbench.dashboards import common, shared_results, warm
from workbench.dashboards.churn import SEGMENTS, churn_dashboard
from workbench.data import simulate
from workbench.errors import InputFileError, ThinDataWarning


@pytest.fixture(scope="module")
def chain_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("shared") / "chain.duckdb"
    simulate.simulate_chain(path, members=800, weeks=30, seed=3, end="2026-11-22")
    return path


@pytest.fixture
def new_kernel():
    """new_kernel(path) -> a read-only Store with empty per-kernel caches (as a new Voila kernel's)."""
    opened = []

    def _open(path):
        db = wb.connect(path)  # read-only, as the dashboards open it
        opened.append(db)
        common.CACHES.pop(id(db), None)
        return db

    yield _open
    for db in opened:
        common.CACHES.pop(id(db), None)
        db.close()


def _fresh_folder(path):
    shutil.rmtree(path.parent / shared_results.FOLDER_NAME, ignore_errors=True)


def test_a_second_kernel_reads_results_and_figures_the_first_computed(chain_path, new_kernel, monkeypatch):
    monkeypatch.delenv(shared_results.CACHE_ENV, raising=False)
    _fresh_folder(chain_path)
    first = churn_dashboard(new_kernel(chain_path), lang="en")
    first.controls["segment"].value = "in_group"
    assert first.cache.computed >= 3 and first.cache.shared_hits == 0
    second = churn_dashboard(new_kernel(chain_path), lang="en")
    second.controls["segment"].value = "in_group"
    assert second.cache.computed == 0 and second.cache.shared_hits == first.cache.computed
    assert second.figures_shared >= 3  # survival, hazard ratios and wake-up list: JSON read, not built
    assert second.numbers == first.numbers
    for name, pane in first.panes.items():
        assert second.panes[name]._shown == pane._shown, name
    direct = churn_survival(second.db, as_of=second.as_of, segment_by="in_group")
    assert second.numbers["members"] == direct.medians["members"].sum()
    assert [t.name for t in second.figures["survival"].data] == [
        t.name for t in first.figures["survival"].data
    ]


def test_only_read_only_duckdb_stores_share_and_the_folder_follows_the_store(
    chain_path, tmp_path, monkeypatch
):
    monkeypatch.delenv(shared_results.CACHE_ENV, raising=False)
    with wb.connect(chain_path) as db:
        shared = shared_results.SharedResults.for_store(db)
        assert shared.folder.parent == chain_path.parent / shared_results.FOLDER_NAME
        assert shared.folder.name.startswith("chain-")
        monkeypatch.setenv(shared_results.CACHE_ENV, "off")
        assert shared_results.SharedResults.for_store(db) is None
        monkeypatch.setenv(shared_results.CACHE_ENV, str(tmp_path / "elsewhere"))
        assert shared_results.SharedResults.for_store(db).folder.parent == tmp_path / "elsewhere"
    monkeypatch.delenv(shared_results.CACHE_ENV)
    copy = tmp_path / "copy.duckdb"
    shutil.copy(chain_path, copy)
    with wb.connect(copy, read_only=False) as db:
        assert shared_results.SharedResults.for_store(db) is None  # may change between two queries
    before = shared_results.store_fingerprint(copy)
    with wb.connect(copy, read_only=False) as db:  # a load of new data
        db.backend.raw_sql(
            "UPDATE orders SET amount = amount + 1 WHERE order_id = (SELECT min(order_id) FROM orders)"
        )
    assert shared_results.store_fingerprint(copy) != before


def test_thin_data_notes_come_back_with_the_result_from_memory_and_from_disk(tmp_path):
    calls = []

    def thin(x):
        calls.append(x)
        warnings.warn(f"only {x} members", ThinDataWarning, stacklevel=1)
        return {"x": x}

    folder = shared_results.SharedResults(tmp_path)
    for cache in (common.ResultCache(shared=folder), common.ResultCache(shared=folder)):
        for _ in range(2):  # computed or read from disk, then from memory
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                assert cache.get("thin", thin, x=3) == {"x": 3}
            assert [str(w.message) for w in caught] == ["only 3 members"]
    assert calls == [3]  # computed once for both kernels


def test_an_unreadable_file_is_computed_again(tmp_path):
    folder = shared_results.SharedResults(tmp_path)
    cache = common.ResultCache(shared=folder)
    cache.get("double", lambda x: 2 * x, x=4)
    (path,) = tmp_path.glob("double-*.pkl")
    path.write_bytes(b"not a pickle")
    again = common.ResultCache(shared=folder)
    assert again.get("double", lambda x: 2 * x, x=4) == 8 and again.computed == 1


def test_after_a_warm_run_no_filter_value_is_computed_by_a_page(chain_path, new_kernel, monkeypatch):
    monkeypatch.delenv(shared_results.CACHE_ENV, raising=False)
    _fresh_folder(chain_path)
    # In another process (its own hash seed), as `workbench dashboard` starts it.
    argv = warm.command(chain_path, dashboards=["churn"]) + ["--controls", "segment", "city"]
    subprocess.run(argv, check=True, timeout=600, env={**os.environ, "PYTHONHASHSEED": "random"})
    dash = churn_dashboard(new_kernel(chain_path), lang="zh")
    status = (dash.cache.shared.folder / warm.STATUS_FILE).read_text(encoding="utf-8")
    assert '"finished": "20' in status
    cities = [v for _, v in dash.controls["city"].options if v]
    for segment in SEGMENTS:
        dash.controls["segment"].value = segment
    dash.controls["segment"].value = "vip"
    for city in cities:
        dash.controls["city"].value = city
    assert dash.cache.computed == 0 and dash.cache.shared_hits > len(SEGMENTS) + len(cities)
    assert dash.figures_shared > 0
    direct = churn_survival(dash.db, as_of=dash.as_of, segment_by="vip", cities=[cities[-1]])
    assert dash.numbers["members"] == direct.medians["members"].sum()


def test_warm_skips_the_store_filter_of_a_chain_with_many_stores(chain_path, monkeypatch):
    monkeypatch.delenv(shared_results.CACHE_ENV, raising=False)
    table = warm.warm(chain_path, dashboards=["churn"], controls=["store"], max_stores=1)
    row = table.set_index("control").loc["store"]
    assert row["values"] == 0 and row["skipped"].endswith("stores > 1")


def test_the_servers_warm_watcher_runs_again_after_the_store_changes(chain_path, tmp_path, monkeypatch):
    monkeypatch.delenv(shared_results.CACHE_ENV, raising=False)
    store = tmp_path / "store.duckdb"
    shutil.copy(chain_path, store)

    def status():  # warm.json of the store's current state, once that state's run has finished
        with wb.connect(store) as db:
            path = shared_results.SharedResults.for_store(db).folder / warm.STATUS_FILE
        return path if path.exists() and '"finished": "' in path.read_text(encoding="utf-8") else None

    proc = subprocess.Popen(warm.command(store, dashboards=["campaigns"], watch=0.5), start_new_session=True)
    try:
        first = _wait_for(status)
        # A load of new data, once the run that wrote the status has exited (it holds the store until then).
        with _wait_for(lambda: _writable(store), what="the store stayed locked") as db:
            db.backend.raw_sql(
                "UPDATE orders SET amount = amount + 1 WHERE order_id = (SELECT min(order_id) FROM orders)"
            )
        second = _wait_for(status)
        assert second != first and first.exists()  # a new folder for the new state, filled again
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=60)


def _writable(path):
    try:
        return wb.connect(path, read_only=False)
    except InputFileError:  # another process has it open
        return None


def _wait_for(probe, timeout: float = 300, *, what: str = "the warm run did not finish"):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found is not None:
            return found
        time.sleep(0.5)
    raise AssertionError(f"{what} in {timeout:.0f} s")
