"""The audit: each reference document's hand-written gradient, checked against autograd.

Every module in `tinygrad_rnn.reference` codes one document's backward pass as the document
writes it (`backward_as_written`) and the same loss in Tensor ops (`tensor_loss`). The audit runs
both on a small random problem and compares them parameter by parameter with `check_gradients`:
a parameter is OK when the relative error is at most 1e-6, WRONG otherwise.

A WRONG parameter is explained by the module's GRADIENT_FINDINGS, and only WRONG parameters may
have an entry there. When the measurement and the findings disagree the reference module is
wrong, and the audit raises AuditError instead of printing a misleading report.

    python -m tinygrad_rnn audit            # a text report
    python -m tinygrad_rnn audit --json     # the same as JSON
"""
import textwrap

import numpy as np

from .gradcheck import check_gradients
from .reference import DOCUMENTS

RTOL = 1e-6
WIDTH = 100


class AuditError(AssertionError):
    """A reference module's findings disagree with its measured gradient."""


def audit_document(doc, seed=0):
    """One document's entry: its parameters' relative errors, verdicts and causes, in the
    order of doc.PARAMETERS, and its findings outside the gradient."""
    problem = doc.sample_problem(np.random.default_rng(seed))
    params = problem["params"]
    if tuple(params) != tuple(doc.PARAMETERS):
        raise AuditError(f"{doc.SOURCE}: sample_problem gives parameters {tuple(params)}, "
                         f"PARAMETERS says {tuple(doc.PARAMETERS)}")
    stray = set(doc.GRADIENT_FINDINGS) - set(doc.PARAMETERS)
    if stray:
        raise AuditError(f"{doc.SOURCE}: GRADIENT_FINDINGS names unknown parameters "
                         f"{sorted(stray)}")
    grads = doc.backward_as_written(params, problem)
    report = check_gradients(lambda tensors: doc.tensor_loss(tensors, problem), params, grads,
                             rtol=RTOL)
    rows = []
    for name in doc.PARAMETERS:
        row = report[name]
        cause = doc.GRADIENT_FINDINGS.get(name)
        if not row.ok and cause is None:
            raise AuditError(f"{doc.SOURCE}: {name} is WRONG (rel error {row.rel_error:.2e}) "
                             "but GRADIENT_FINDINGS gives no cause")
        if row.ok and cause is not None:
            raise AuditError(f"{doc.SOURCE}: GRADIENT_FINDINGS gives a cause for {name}, but "
                             f"its gradient is OK (rel error {row.rel_error:.2e})")
        rows.append({"name": name, "rel_error": float(row.rel_error), "ok": bool(row.ok),
                     "cause": cause})
    return {"document": doc.SOURCE, "title": doc.TITLE, "parameters": rows,
            "other_findings": list(doc.OTHER_FINDINGS)}


def audit_documents(seed=0):
    """Audit every document in DOCUMENTS on sample_problem(default_rng(seed)).

    Returns {"documents": [{"document", "title", "parameters": [{"name", "rel_error", "ok",
    "cause"}], "other_findings": [...]}]}, ready for json.dumps.
    """
    return {"documents": [audit_document(doc, seed) for doc in DOCUMENTS]}


def _wrap(text, first, rest):
    """`text` wrapped to WIDTH columns, starting with `first` and indenting the rest."""
    return textwrap.fill(text, WIDTH, initial_indent=first, subsequent_indent=rest,
                         break_long_words=False, break_on_hyphens=False)


def format_report(result):
    """The audit as text: per document a table of parameters, then why each WRONG one is wrong,
    then the findings outside the gradient."""
    lines = [f"Hand-written gradients against autograd (OK when rel error <= {RTOL:g})"]
    wrong = total = 0
    for doc in result["documents"]:
        params = doc["parameters"]
        width = max(len("parameter"), *(len(p["name"]) for p in params))
        lines += ["", f"{doc['document']}  {doc.get('title', '')}".rstrip(),
                  f"  {'parameter':<{width}}  {'rel error':>9}  gradient"]
        lines += [f"  {p['name']:<{width}}  {p['rel_error']:9.2e}  {'OK' if p['ok'] else 'WRONG'}"
                  for p in params]
        for p in params:
            if not p["ok"]:
                lines.append(_wrap(p["cause"], f"  WRONG {p['name']}: ", " " * 4))
        if doc["other_findings"]:
            lines.append("  other findings:")
            lines += [_wrap(finding, "  - ", " " * 4) for finding in doc["other_findings"]]
        wrong += sum(not p["ok"] for p in params)
        total += len(params)
    lines += ["", f"{len(result['documents'])} documents: {wrong} of {total} gradients WRONG"]
    return "\n".join(lines)
