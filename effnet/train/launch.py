"""Start the training processes of one machine from ``effnet train`` itself.

On a CPU, small networks use two cores badly from one process: their tensors are too small to
split well between threads. Two processes of one thread each, joined by DDP as torchrun joins
them, train the demo model about 1.35x as fast as one process with two threads. So ``effnet
train`` on a CPU with two or more cores starts two processes by default, through torchrun's own
launcher (``torch.distributed.run``, ``--standalone``), each running the same command.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

from effnet.train.distributed import wants_cuda
from effnet.train.loaders import available_cores


def launched() -> bool:
    """Whether this process was started by torchrun (or by :func:`launch`)."""
    return "WORLD_SIZE" in os.environ


def auto_processes(device: str | None) -> int:
    """Processes ``effnet train`` starts when ``--procs`` is not given: 1 on CUDA (torchrun
    starts one per GPU) and on one core; 2 on a CPU with two or more cores."""
    if launched() or wants_cuda(device) or available_cores() < 2:
        return 1
    return 2


def launch(argv: Sequence[str], processes: int) -> int:
    """Run ``python -m effnet *argv`` in ``processes`` processes joined by DDP on this
    machine, each with ``cores / processes`` threads (unless ``OMP_NUM_THREADS`` is set).

    Returns the exit status: 0, 130 when interrupted, else the first failing process's.
    """
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    threads = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = threads or str(max(1, available_cores() // processes))
    # the launcher's own log lines repeat what the processes print
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    args = get_args_parser().parse_args(
        ["--standalone", f"--nproc-per-node={processes}", "--module", "effnet", *argv]
    )
    try:
        run(args)
    except ChildFailedError as exc:
        codes = [failure.exitcode for failure in exc.failures.values()]
        return 130 if 130 in codes or -2 in codes else next((c for c in codes if c), 1)
    except (KeyboardInterrupt, SignalException):  # the processes saved and stopped
        return 130
    finally:  # the children's setting, not this process's
        if threads is None:
            del os.environ["OMP_NUM_THREADS"]
    return 0
