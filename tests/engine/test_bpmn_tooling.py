"""The processes open in bpmn.io without warnings and pass bpmnlint's recommended rules."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
BPMN = sorted(str(p) for p in (ROOT / "processes").glob("*.bpmn"))
BIN = ROOT / "node_modules" / ".bin"


def _need_node_tools() -> None:
    if shutil.which("node") and (BIN / "bpmnlint").exists():
        return
    if os.environ.get("CI"):
        pytest.fail("CI must have node and the npm packages (make assets)")
    pytest.skip("node or node_modules missing; run `make assets`")


def test_every_process_imports_into_bpmn_io_without_warnings():
    _need_node_tools()
    result = subprocess.run(["node", str(ROOT / "tools" / "bpmn-import-check.mjs"), *BPMN],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_bpmnlint_recommended_rules_report_no_errors():
    _need_node_tools()
    result = subprocess.run([str(BIN / "bpmnlint"), *BPMN], capture_output=True, text=True,
                            cwd=ROOT / "processes")
    assert result.returncode == 0, result.stdout + result.stderr
