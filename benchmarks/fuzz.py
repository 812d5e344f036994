"""A long fuzz run: thousands of mutated built-in sessions through ``validate`` and ``show``.

The same seeded corpus as ``tests/test_fuzz.py`` (tests/fuzzing.py), many more
cases. A case fails on a traceback, an exit code other than 0 or 2, or more
than 20,000 characters of output; every failing input is saved to the
``--save`` folder with what was done to it. The peer figure is PyYAML's own
``safe_load`` on the same inputs (how many it accepts, how long it takes), so
the command's cost per case can be compared with just parsing the YAML.

    .venv/bin/python benchmarks/fuzz.py [--cases 3000] [--seed 1] [--save fuzz-failures] [--pure]
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fuzzing import corpus, run_case  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--save", type=Path, default=Path("fuzz-failures"))
    parser.add_argument("--commands", default="validate,show")
    parser.add_argument("--pure", action="store_true", help="PyYAML's own parser, not libyaml's")
    args = parser.parse_args()
    commands = tuple(args.commands.split(","))
    if args.pure:
        from relaxplayer import loader

        loader.CParser = None

    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("RELAXPLAYER_CACHE", str(Path(tmp) / "cache"))
        os.environ.setdefault("RELAXPLAYER_STATE", str(Path(tmp) / "state"))
        os.environ.setdefault("RELAXPLAYER_CONFIG", str(Path(tmp) / "config"))
        folder = Path(tmp) / "cases"
        folder.mkdir()
        cases = list(corpus(args.cases, args.seed))
        by_code: collections.Counter[str] = collections.Counter()
        failures = []
        biggest = 0
        start = time.perf_counter()
        for case in cases:
            for outcome in run_case(case, folder, commands):
                by_code[f"{outcome.command} exit {outcome.exit_code}"] += 1
                biggest = max(biggest, outcome.output_size)
                if outcome.problem:
                    failures.append((case, outcome))
        ours = time.perf_counter() - start
        peer_ok, peer_time = _peer(cases)

    parser_name = "PyYAML" if args.pure else "libyaml"
    print(f"cases: {len(cases)} (seed {args.seed}), commands: {', '.join(commands)}, {parser_name}")
    for key, n in sorted(by_code.items()):
        print(f"  {key}: {n}")
    print(f"largest output: {biggest:,} characters")
    print(f"relaxplayer: {ours:.1f} s ({ours / len(cases) * 1000:.1f} ms a case)")
    print(f"peer yaml.safe_load: accepts {peer_ok} of {len(cases)}, {peer_time:.1f} s")
    print(f"failures: {len(failures)}")
    if failures:
        args.save.mkdir(parents=True, exist_ok=True)
        for case, outcome in failures:
            name = args.save / f"case{case.number}-{outcome.command}.yaml"
            name.write_text(
                f"# {outcome.command}: {outcome.problem}\n# mutations: {', '.join(case.mutations)}\n"
                + case.text,
                encoding="utf-8",
                errors="surrogatepass",
            )
            print(f"  case {case.number} {outcome.command}: {outcome.problem[:200]}  -> {name}")
    return 1 if failures else 0


def _peer(cases: list) -> tuple[int, float]:
    """How many cases PyYAML's safe_load accepts, and how long it takes over all of them."""
    import yaml

    start = time.perf_counter()
    ok = 0
    for case in cases:
        try:
            yaml.load(case.text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
            ok += 1
        except Exception:  # any failure counts as refused
            pass
    return ok, time.perf_counter() - start


if __name__ == "__main__":
    sys.exit(main())
