"""benchmarks/compose_torch.py: the page shows what the results file holds, and the script runs
without PyTorch.  Where PyTorch is installed (the ``bench`` extra, not in ``make test``'s
environment), one cell and one composition are also compared, and a wrong backward is caught."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("compose_torch",
                                               ROOT / "benchmarks" / "compose_torch.py")
ct = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ct)

RESULTS = json.loads((ROOT / "benchmarks" / "results_compose_torch.json").read_text())


def test_page_table_is_the_committed_results_file():
    text = ct.PAGE.read_text()
    block = text[text.index(ct.BEGIN) + len(ct.BEGIN):text.index(ct.END)]
    assert block.strip() == ct.page_table(RESULTS).strip()


def test_results_cover_every_composition_and_agree():
    cases = {c["case"]: c for c in RESULTS["cases"]}
    assert set(ct.COMPOSITIONS) <= set(cases)
    assert [c["label"] for c in RESULTS["cases"] if c["group"] == "composition"] == [
        label for label, _ in ct.COMPOSITIONS.values()]
    cells_alone = {c["case"].split(":")[0] for c in RESULTS["cases"]
                   if c["group"] != "composition"}
    assert cells_alone == set(ct.BUILTIN + ct.DEFINED)
    for c in RESULTS["cases"]:
        errors = list(c["forward"].values()) + list(c["gradients"].values())
        assert c["gradients"] and max(errors) == c["worst"] < RESULTS["limit"], c["case"]


def test_write_replaces_only_the_marked_block(tmp_path):
    page = tmp_path / "page.md"
    head, tail = "# Page\n\n??? example \"Fold\"\n\n    Text.\n\n", "\n\nAfter.\n"
    page.write_text(f"{head}    {ct.BEGIN}\n    old table\n    {ct.END}{tail}")
    ct.write(RESULTS, page, tmp_path)
    once = page.read_text()
    assert once == f"{head}    {ct.BEGIN}\n{ct.page_table(RESULTS)}\n    {ct.END}{tail}"
    ct.write(RESULTS, page, tmp_path)
    assert page.read_text() == once  # a second run changes nothing
    assert json.loads((tmp_path / "results_compose_torch.json").read_text()) == RESULTS
    assert (tmp_path / "results_compose_torch.md").read_text() == ct.markdown(RESULTS)


def test_without_torch_it_skips_and_writes_nothing(monkeypatch, capsys):
    monkeypatch.setattr(ct, "_torch", lambda: None)
    monkeypatch.setattr(ct, "write", lambda *a: pytest.fail("wrote results without PyTorch"))
    assert ct.main([]) == 0
    assert "skipped, PyTorch is not installed" in capsys.readouterr().out


def test_worst_is_the_elementwise_relative_error():
    assert ct.worst(np.array([1.0, 0.0, 4.0]), np.array([1.0, 0.0, 5.0])) == pytest.approx(0.2)
    with pytest.raises(SystemExit, match="shape mismatch"):
        ct.worst(np.zeros(3), np.zeros(4))


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def test_lstm_alone_and_encoder_decoder_agree_with_torch(torch):
    case = ct.cell_case(torch, "lstm", ids=False, batched=True)
    assert set(case["gradients"]) >= {"x", "state0 h", "state0 c", "params weight_hh"}
    assert max(case["gradients"].values()) < ct.LIMIT
    comp = ct.composition_case(torch, "enc-dec", ct.encoder_decoder, seed=0)
    assert max(comp["gradients"].values()) < ct.LIMIT


def test_a_backward_that_ignores_dfinal_is_caught(torch, monkeypatch):
    backward = ct.cells.Cell.backward
    monkeypatch.setattr(ct.cells.Cell, "backward",
                        lambda self, fw, du=None, dfinal=None, **kw: backward(self, fw, du, **kw))
    case = ct.cell_case(torch, "gru", ids=True, batched=False)
    assert case["gradients"]["params weight_hh"] > 1e-3


@pytest.mark.parametrize("error", [2e-9, float("nan")])
def test_a_disagreement_fails_the_run_and_is_named(monkeypatch, capsys, error):
    results = json.loads(json.dumps(RESULTS))
    case = results["cases"][-1]
    case["gradients"]["head: V"] = case["worst"] = error
    monkeypatch.setattr(ct, "_torch", lambda: object())
    monkeypatch.setattr(ct, "run", lambda torch: results)
    written = []
    monkeypatch.setattr(ct, "write", lambda r: written.append(r))
    assert ct.main([]) == 1
    assert written == [results]  # the results are still recorded
    assert f"DISAGREES with PyTorch: {case['case']}: head: V" in capsys.readouterr().err


def test_truncated_graph_is_what_rnnmath_truncates(torch, monkeypatch):
    case = ct.cell_case(torch, "mgu", ids=False, batched=True, truncate=2)
    assert max(case["gradients"].values()) < ct.LIMIT
    # the same comparison against PyTorch's full graph disagrees: truncation is really checked
    monkeypatch.setattr(ct.TorchCell, "run_truncated", lambda self, x, s0, k: self.run(x, s0))
    full = ct.cell_case(torch, "mgu", ids=False, batched=True, truncate=2)
    assert full["gradients"]["params U_f"] > 1e-3
