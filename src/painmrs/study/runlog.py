"""Logging for workflow scripts: everything a job prints goes to its Snakemake ``log:`` file.

A failing job leaves the full traceback in its log and a one-line reason on stderr, so a
user running hundreds of jobs on a cluster can find why one failed without digging.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import time
import traceback
from pathlib import Path

from ..errors import InputError


def _cpu_s() -> float:
    """CPU seconds of this process and its finished children (the simulation's workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


@contextlib.contextmanager
def logged(log_path: str | os.PathLike | None, job: str):
    """Send logging, stdout and stderr to ``log_path`` while the block runs."""
    if log_path is None:
        yield logging.getLogger("painmrs")
        return
    path = Path(log_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("w", encoding="utf-8")
    handler = logging.StreamHandler(handle)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    log = logging.getLogger(f"painmrs.{job}")
    start, start_cpu = time.perf_counter(), _cpu_s()
    real_stderr = sys.stderr
    try:
        with contextlib.redirect_stdout(handle), contextlib.redirect_stderr(handle):
            # Where the job ran: the SLURM job id proves a job ran inside an allocation.
            log.info("start %s on host %s (SLURM_JOB_ID=%s)", job, socket.gethostname(), os.environ.get("SLURM_JOB_ID", "none"))
            yield log
            # CPU time too: on a shared machine it is the figure to compare (bench/).
            log.info("done %s in %.1f s (CPU %.1f s)", job, time.perf_counter() - start, _cpu_s() - start_cpu)
    except InputError as exc:
        log.error("%s", exc)
        print(f"painmrs {job}: {exc} (log: {path})", file=real_stderr)
        raise
    except BaseException:
        handle.write(traceback.format_exc())
        print(f"painmrs {job}: failed; traceback in {path}", file=real_stderr)
        raise
    finally:
        root.removeHandler(handler)
        handle.close()
