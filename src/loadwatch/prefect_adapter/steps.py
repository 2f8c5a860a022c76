"""The pull step of deploy/prefect.yaml: which loadwatch checkout a process worker's flow run runs from.

What a flow run of a Prefect 3 `process` worker can see of the worker (prefect/workers/process.py, 3.4-3.9):
its environment (the worker's `os.environ` merged with the job's `env`), and nothing of its working directory.
The run starts in a fresh temporary directory unless the `working_dir` job variable is set, and that variable is
fixed per deployment or pool, so it cannot follow the worker. `{{ $VAR }}` in a pull step is templated from the
flow run's environment at run time, which is the worker's: `$PWD` names the worker's directory only when a shell
started it and nobody changed directory since (a supervisor that sets the working directory, systemd's
`WorkingDirectory=` or `subprocess.Popen(cwd=...)`, leaves it stale or unset). What does name it is the process
tree: the pull steps run in the process the worker started for the flow run (3.9: the workspace supervisor, which
then execs the engine; before: the engine itself), so the worker is an ancestor whose working directory the OS
reports. This step takes that directory when it is a checkout, then `$LOADWATCH_CHECKOUT`, then /opt/loadwatch.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import psutil

__all__ = ["CHECKOUT_MARKER", "choose_checkout", "locate_checkout", "worker_directory"]

# What makes a directory a loadwatch checkout here: the file the deployment's entrypoint names.
CHECKOUT_MARKER = "flows/nightly.py"


def _is_worker(cmdline: list[str]) -> bool:
    """`prefect worker start ...`, however it was launched (the console script, `python -m prefect`)."""
    args = [os.path.basename(a) for a in cmdline]
    return any(a == "worker" and b == "start" for a, b in itertools.pairwise(args))


def worker_directory(pid: int | None = None) -> Path | None:
    """The working directory of the Prefect worker this process descends from (None when it runs under none:
    `prefect flow-run execute`, a test, another launcher)."""
    try:
        for ancestor in psutil.Process(pid).parents():
            if _is_worker(ancestor.cmdline()):
                return Path(ancestor.cwd())
    except psutil.Error:  # an ancestor gone, or not ours to read: no worker directory known
        return None
    return None


def choose_checkout(candidates: list[tuple[str, str | Path | None]]) -> tuple[Path | None, list[str]]:
    """The first of the (label, directory) candidates that holds CHECKOUT_MARKER, and what each one before it was
    found to be (for the message when none is)."""
    tried: list[str] = []
    for label, where in candidates:
        if not where:
            tried.append(f"{label}: not known")
            continue
        path = Path(where).expanduser()
        if (path / CHECKOUT_MARKER).is_file():
            return path.resolve(), tried
        tried.append(f"{label} {path}: no {CHECKOUT_MARKER}")
    return None, tried


def locate_checkout(env_var: str = "LOADWATCH_CHECKOUT", default: str = "/opt/loadwatch") -> dict[str, str]:
    """Prefect pull step: {"directory": the checkout}; the next step makes it the flow run's working directory.

    Raises RuntimeError (the flow run crashes in its pull step, with this message in its logs) when none of the
    three places is a checkout."""
    found, tried = choose_checkout([("the worker's working directory", worker_directory()),
                                    (f"${env_var}", os.environ.get(env_var)), ("the default", default)])
    if found is None:
        raise RuntimeError(
            "loadwatch: no checkout to run the nightly flow from (" + "; ".join(tried) + "). Start the worker in "
            f"the loadwatch checkout, or set {env_var} in the worker's environment to it.")
    print(f"loadwatch: running from the checkout {found}")
    return {"directory": str(found)}
