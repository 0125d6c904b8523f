"""The audit: its JSON shape, its verdicts against each reference's findings, its text report
and its command line."""
import functools
import json
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

from tinygrad_rnn.audit import (RTOL, WIDTH, AuditError, audit_document, audit_documents,
                                format_report)
from tinygrad_rnn.cli import main
from tinygrad_rnn.reference import DOCUMENTS, from_scratch_tutorial, min_char_rnn

ROOT = Path(__file__).resolve().parents[1]  # so that the subprocess imports this tinygrad_rnn
SEEDS = [0, 1, 5, 42]

# What the audit should find, document by document: the parameters whose gradient is WRONG.
EXPECTED_WRONG = {
    "000_54715d8477c49f0c.txt": {"c"},
    "001_9a39c453135f5c77.txt": {"Wxh", "Whh", "bh"},
    "002_32216470e957c5f0.txt": set(),
    "003_f56a54b9340eb2bd.txt": {"Wxh", "Whh", "Why"},
    "004_1d85d7b75ceb7b8e.txt": {"Wih", "Whh", "Who", "bh", "bo"},
}


@functools.lru_cache(maxsize=None)
def audit_json(seed=0):
    """The audit for `seed`, as JSON text (so that no test can alter another's result)."""
    return json.dumps(audit_documents(seed))


def audited(seed=0):
    return json.loads(audit_json(seed))


def normalized(text):
    return " ".join(text.split())


# --- the result's shape -----------------------------------------------------------------------

def test_json_schema():
    result = audit_documents(0)
    assert set(result) == {"documents"} and isinstance(result["documents"], list)
    for doc in result["documents"]:
        assert set(doc) == {"document", "title", "parameters", "other_findings"}
        assert isinstance(doc["document"], str) and isinstance(doc["title"], str)
        assert isinstance(doc["other_findings"], list)
        assert all(isinstance(line, str) for line in doc["other_findings"])
        for row in doc["parameters"]:
            assert set(row) == {"name", "rel_error", "ok", "cause"}
            assert isinstance(row["name"], str)
            assert type(row["rel_error"]) is float and row["rel_error"] >= 0
            assert type(row["ok"]) is bool
            assert row["cause"] is None or isinstance(row["cause"], str)
    assert json.loads(json.dumps(result)) == result


def test_every_document_in_order_with_its_parameters():
    docs = audited()["documents"]
    assert [d["document"] for d in docs] == [m.SOURCE for m in DOCUMENTS]
    assert all(re.fullmatch(r"\d{3}_[0-9a-f]{16}\.txt", d["document"]) for d in docs)
    for doc, module in zip(docs, DOCUMENTS):
        assert doc["title"] == module.TITLE
        assert [p["name"] for p in doc["parameters"]] == list(module.PARAMETERS)


# --- the verdicts -----------------------------------------------------------------------------

def test_min_char_rnn_is_right_everywhere():
    doc = next(d for d in audited()["documents"] if d["document"] == min_char_rnn.SOURCE)
    assert all(p["ok"] and p["cause"] is None for p in doc["parameters"])
    assert max(p["rel_error"] for p in doc["parameters"]) < 1e-12


@pytest.mark.parametrize("seed", SEEDS)
def test_wrong_exactly_where_the_findings_say(seed):
    for doc, module in zip(audited(seed)["documents"], DOCUMENTS):
        for row in doc["parameters"]:
            if row["name"] in module.GRADIENT_FINDINGS:
                assert not row["ok"] and row["rel_error"] > RTOL
                assert row["cause"] == module.GRADIENT_FINDINGS[row["name"]]
            else:
                assert row["ok"] and row["rel_error"] <= RTOL and row["cause"] is None
        wrong = {row["name"] for row in doc["parameters"] if not row["ok"]}
        assert wrong == EXPECTED_WRONG[doc["document"]], doc["document"]


def test_other_findings_are_the_modules():
    for doc, module in zip(audited()["documents"], DOCUMENTS):
        assert doc["other_findings"] == list(module.OTHER_FINDINGS)
        assert doc["other_findings"] or not module.OTHER_FINDINGS


def _with_findings(module, findings):
    """A copy of a reference module with other GRADIENT_FINDINGS."""
    return types.SimpleNamespace(**{**vars(module), "GRADIENT_FINDINGS": findings})


def test_a_wrong_gradient_without_a_cause_is_an_error():
    broken = _with_findings(from_scratch_tutorial, {})
    with pytest.raises(AuditError, match=r"c is WRONG .* no cause"):
        audit_document(broken)


def test_a_cause_for_a_right_gradient_is_an_error():
    broken = _with_findings(from_scratch_tutorial, {**from_scratch_tutorial.GRADIENT_FINDINGS,
                                                    "U": "U is wrong"})
    with pytest.raises(AuditError, match=r"cause for U, but its gradient is OK"):
        audit_document(broken)


def test_a_cause_for_an_unknown_parameter_is_an_error():
    broken = _with_findings(min_char_rnn, {"Wxx": "no such parameter"})
    with pytest.raises(AuditError, match="unknown parameters"):
        audit_document(broken)


# --- the text report --------------------------------------------------------------------------

def test_text_report():
    result = audited()
    text = format_report(result)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= WIDTH
    for doc in result["documents"]:
        assert f"{doc['document']}  {doc['title']}" in lines
        for row in doc["parameters"]:
            verdict = "OK" if row["ok"] else "WRONG"
            assert any(re.fullmatch(rf"  {row['name']} +\S+  {verdict}", line) for line in lines)
            if not row["ok"]:
                assert normalized(f"WRONG {row['name']}: {row['cause']}") in normalized(text)
        for finding in doc["other_findings"]:
            assert normalized(f"- {finding}") in normalized(text)
    assert lines[-1] == "5 documents: 12 of 23 gradients WRONG"


# --- the command line -------------------------------------------------------------------------

def test_main_prints_the_report(capsys):
    assert main(["audit"]) == 0
    assert capsys.readouterr().out == format_report(audited()) + "\n"


def test_main_json_with_seed(capsys):
    assert main(["audit", "--json", "--seed", "5"]) == 0
    assert json.loads(capsys.readouterr().out) == audited(5)


def test_main_refuses_a_negative_seed(capsys):
    assert main(["audit", "--seed", "-1"]) == 2
    assert capsys.readouterr().err == ("tinygrad-rnn: error: argument --seed: must be an integer "
                                       ">= 0, got '-1'\n")


def test_python_dash_m():
    proc = subprocess.run([sys.executable, "-m", "tinygrad_rnn", "audit", "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == audited()
