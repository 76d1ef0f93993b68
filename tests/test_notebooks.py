import subprocess
import sys

from conftest import REPO

NOTEBOOKS = ["01_data", "02_models", "03_training", "04_results"]


def test_nbval_collects_all_four_notebooks():
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "--nbval-lax",
                             "notebooks"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in NOTEBOOKS:
        cells = [line for line in result.stdout.splitlines() if line.startswith(f"notebooks/{name}.ipynb::")]
        assert len(cells) >= 5, f"{name}: {len(cells)} cells collected"


def test_notebooks_are_committed_executed_without_errors_or_local_paths():
    import json
    for name in NOTEBOOKS:
        notebook = json.loads((REPO / "notebooks" / f"{name}.ipynb").read_text())
        code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
        assert all(c["execution_count"] for c in code), f"{name} is not executed"
        outputs = [o for c in code for o in c["outputs"]]
        assert not [o for o in outputs if o["output_type"] == "error"], name
        text = json.dumps(outputs)
        assert str(REPO) not in text and "/home/" not in text and "/root/" not in text, name
        checked = [c for c in code if "NBVAL_CHECK_OUTPUT" in "".join(c["source"])]
        assert checked and all(c["outputs"] for c in checked), f"{name}: checked cells need outputs"
        # No per-cell timing: a rerun (make notebooks) changes only what the cells show.
        assert not [c for c in notebook["cells"] if "execution" in c["metadata"]], name


def _parameters_cell(name):
    import json
    notebook = json.loads((REPO / "notebooks" / f"{name}.ipynb").read_text())
    tagged = [c for c in notebook["cells"] if "parameters" in c["metadata"].get("tags", [])]
    return notebook, tagged


def test_every_notebook_tags_its_parameters_cell():
    """papermill injects `-p NAME VALUE` after the cell tagged `parameters`: without the tag
    its values would be overwritten by the notebook's own (a silent no-op)."""
    import ast
    for name in NOTEBOOKS:
        notebook, tagged = _parameters_cell(name)
        assert len(tagged) == 1, f"{name}: {len(tagged)} cells tagged parameters"
        first_code = next(c for c in notebook["cells"] if c["cell_type"] == "code")
        assert tagged[0] is first_code, f"{name}: the parameters cell is not the first code cell"
        assigned = [t.id for node in ast.parse("".join(first_code["source"])).body
                    if isinstance(node, ast.Assign) for t in node.targets]
        assert "QUICK" in assigned and "SAMPLE_DIR" in assigned, f"{name}: {assigned}"


def test_papermill_runs_notebook_03_with_a_changed_parameter(tmp_path, monkeypatch):
    """`papermill 03_training.ipynb out.ipynb -p LIVE_STEPS 6` trains 6 steps (then resumes
    to 9), in quick mode, with its run folder where FIGURES says."""
    import papermill

    from dcgan_sr import plots

    monkeypatch.setenv("DCGAN_SR_QUICK", "1")
    papermill.execute_notebook(REPO / "notebooks" / "03_training.ipynb", tmp_path / "out.ipynb",
                               parameters={"LIVE_STEPS": 6, "FIGURES": str(tmp_path / "figures")},
                               cwd=REPO / "notebooks", kernel_name="python3", progress_bar=False)
    steps = [int(s) for s in plots.read_history(tmp_path / "figures" / "live_run" / "history.csv")["step"]]
    assert steps == list(range(1, 10)), steps
