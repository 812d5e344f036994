"""A seeded, bounded fuzz pass in the suite: mutated built-in sessions through validate and show.

No traceback, exit 0 or 2, bounded output, for every case. ``benchmarks/fuzz.py``
runs the same corpus with thousands of cases. About 10 s here with other work
running (not asserted: a timing assertion would make the suite flaky).
"""

from __future__ import annotations

from pathlib import Path

from tests.fuzzing import corpus, run_case

CASES = 300
SEED = 13


def test_mutated_sessions_never_crash_validate_or_show(tmp_path: Path) -> None:
    failures = []
    codes = set()
    for case in corpus(CASES, SEED):
        for outcome in run_case(case, tmp_path):
            codes.add(outcome.exit_code)
            if outcome.problem:
                failures.append(
                    f"case {case.number} {case.mutations} {outcome.command}: {outcome.problem}"
                )
    assert failures == []
    assert codes == {0, 2}  # the corpus has both valid and broken scripts
