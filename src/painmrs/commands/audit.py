"""``painmrs audit``: check a results directory against its provenance manifest, or rerun the
study into a fresh directory and compare both runs' outputs file by file."""

from __future__ import annotations

import json
import sys

NAME = "audit"
HELP = "check a results directory against its manifest (exit 1 on any finding); --rerun to reproduce it"


def configure(parser) -> None:
    parser.add_argument("results_dir", help="results directory holding provenance/manifest.json")
    parser.add_argument("--json", action="store_true", help="machine-readable report on stdout")
    parser.add_argument("--workdir", default=None,
                        help="directory recorded input paths are relative to (default: the recorded one)")
    parser.add_argument("--no-inputs", action="store_true", help="check outputs only")
    rerun = parser.add_argument_group("rerun")
    rerun.add_argument("--rerun", action="store_true",
                       help="rerun the study with the recorded config into a fresh directory and "
                            "compare outputs byte by byte")
    rerun.add_argument("--into", default=None, help="fresh directory for the rerun (default RESULTS_DIR.rerun)")
    rerun.add_argument("--snakefile", default=None, help="Snakefile (default: WORKDIR/Snakefile)")
    rerun.add_argument("--cores", type=int, default=1, help="cores for the rerun (default 1)")
    rerun.add_argument("--results-key", default="results_dir",
                       help="config key naming the results directory (default results_dir)")
    rerun.add_argument("--timeout", type=float, default=None, help="give up the rerun after S seconds")


def run(args) -> int:
    from ..provenance.audit import audit_results, rerun_study

    report = audit_results(args.results_dir, args.workdir, check_inputs=not args.no_inputs)
    out: dict = {"audit": report.to_dict()}
    ok = report.ok
    if not args.json:
        print(report.format_text())
    if args.rerun:
        if not args.json:
            print(f"rerunning the study into {args.into or args.results_dir.rstrip('/') + '.rerun'} ...",
                  flush=True)
        result = rerun_study(args.results_dir, args.into, workdir=args.workdir,
                             snakefile=args.snakefile, cores=args.cores,
                             results_key=args.results_key, timeout_s=args.timeout)
        out["rerun"] = {"into": result.into, "returncode": result.returncode, "log": result.log_path,
                        "comparison": None if result.comparison is None else result.comparison.to_dict()}
        ok = ok and result.ok
        if not args.json:
            if result.comparison is None:
                print(f"FAILED: the rerun exited with {result.returncode}; log: {result.log_path}")
            else:
                print(result.comparison.format_text())
    if args.json:
        json.dump(out, sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    return 0 if ok else 1
