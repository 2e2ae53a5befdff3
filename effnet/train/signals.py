"""Ctrl-C / SIGTERM ask the loop to stop at the next step boundary (it saves, then exits)."""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType, TracebackType


class StopSignals:
    """Context manager: the first SIGINT/SIGTERM sets :attr:`requested`; a second SIGINT
    raises ``KeyboardInterrupt`` (stop now, without saving)."""

    def __init__(self, announce: bool = True) -> None:
        self.requested = False
        self.announce = announce
        self._old: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        if self.announce:
            name = signal.Signals(signum).name
            print(
                f"\n{name}: saving a checkpoint after this step, then stopping "
                "(Ctrl-C again to abort without saving)",
                file=sys.stderr,
                flush=True,
            )

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)  # type: ignore[arg-type]
        self._old.clear()
