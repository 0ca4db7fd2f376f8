"""The example notebook runs top to bottom in a real Jupyter kernel, shows its plots inline, and leaves no process
behind (the local workers it starts are gone when the run ends)."""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import psutil
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.slow

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "notebooks" / "calibrate_sir.ipynb"


def _children(pid: int) -> list[psutil.Process]:
    try:
        return [p for p in psutil.Process(pid).children(recursive=True) if p.is_running()]
    except psutil.NoSuchProcess:
        return []


def _settled(pid: int, timeout: float = 20.0) -> list[psutil.Process]:
    """The process's descendants once exiting ones are gone (bounded wait)."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [p for p in _children(pid) if p.status() != psutil.STATUS_ZOMBIE]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.25)


def test_the_notebook_runs_in_a_kernel_with_inline_plots_and_no_stray_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELOPS_RUNS_DIR", str(tmp_path / "runs"))  # the kernel inherits it
    before = {p.pid for p in _children(psutil.Process().pid)}
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    with client.setup_kernel():
        kernel_pid = client.km.provisioner.process.pid
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)  # raises CellExecutionError with the cell's traceback
        # Still inside the kernel's life: the run is over, so its workers must be too. Python's multiprocessing
        # resource tracker stays (one per process, started with the first spawned child, reused by later runs,
        # and gone with the kernel: checked below).
        leftovers = [p for p in _settled(kernel_pid) if "multiprocessing.resource_tracker" not in " ".join(p.cmdline())]
        assert not leftovers, [(p.pid, p.cmdline()) for p in leftovers]
    stray = [p for p in _settled(psutil.Process().pid) if p.pid not in before]
    assert not stray, [(p.pid, p.cmdline()) for p in stray]

    code = [c for c in nb.cells if c.cell_type == "code"]
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    images = {
        i: sum("image/png" in o.get("data", {}) for o in c.outputs)
        for i, c in enumerate(code)
        if "plot." in c.source or "plt.show()" in c.source
    }
    assert len(images) == 4 and all(n == 1 for n in images.values()), images  # loss, parameters, fit, forward run
    runs = list((tmp_path / "runs").glob("notebook-sir-*/manifest.json"))
    assert len(runs) == 1
    last = code[-1].outputs[-1]["data"]["text/plain"]
    assert last.startswith("('completed', 80)")
