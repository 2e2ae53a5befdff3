"""Build and load effnet's native CPU kernels (``effnet/deploy/kernels/``), on demand.

The kernels are plain C++ against PyTorch's headers, registered as TorchScript-callable
operators (``torch.ops.effnet_native.*``). They are compiled once per source, PyTorch version
and compiler, with the C++ compiler found on the machine (``$CXX``, else ``c++``), into
``$EFFNET_CACHE/kernels`` (default ``~/.cache/effnet/kernels``), then loaded from there. Nothing
here runs unless asked for (``optimize_for_inference(model, native=True)``), so a machine
without a compiler only loses this option, with a one-line reason.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

KERNELS = Path(__file__).with_name("kernels")
SOURCE = KERNELS / "native.cpp"  # the one translation unit; it includes the headers beside it
#: x86 instruction-set extensions the kernels are compiled for (``/proc/cpuinfo`` flag names)
CPU_FLAGS = ("avx512f", "avx512dq")
COMPILE_FLAGS = (
    "-O3", "-std=c++20", "-shared", "-fPIC", "-fopenmp", "-mavx512f", "-mavx512dq", "-mfma",
)  # fmt: skip

_loaded: Path | None = None


class NativeKernelsUnavailable(RuntimeError):
    """The native kernels cannot run here (CPU, compiler or build); the message says which."""


def cpu_supported() -> str | None:
    """``None`` if this CPU runs the kernels, else why not."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return f"the native kernels need an x86-64 CPU with AVX-512 (this is {platform.machine()})"
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "cannot read /proc/cpuinfo to check for AVX-512 (Linux only)"
    flags = next(
        (ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), []
    )
    missing = [f for f in CPU_FLAGS if f not in flags]
    return (
        f"this CPU lacks {', '.join(missing)} (AVX-512), which the native kernels use"
        if missing
        else None
    )


def compiler() -> str | None:
    """The C++ compiler to use: ``$CXX``, else ``c++`` / ``g++`` on the PATH."""
    for name in (os.environ.get("CXX"), "c++", "g++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def kernels_dir() -> Path:
    """``$EFFNET_CACHE/kernels`` (default ``~/.cache/effnet/kernels``)."""
    env = os.environ.get("EFFNET_CACHE")
    return (Path(env) if env else Path.home() / ".cache" / "effnet") / "kernels"


def _build_command(cxx: str, source: Path, out: Path) -> list[str]:
    from torch.utils import cpp_extension

    abi = int(torch._C._GLIBCXX_USE_CXX11_ABI)
    cmd = [cxx, *COMPILE_FLAGS, f"-D_GLIBCXX_USE_CXX11_ABI={abi}"]
    for inc in cpp_extension.include_paths():
        cmd += ["-isystem", inc]
    cmd += [str(source), "-o", str(out)]
    for lib in cpp_extension.library_paths():
        cmd += [f"-L{lib}", f"-Wl,-rpath,{lib}"]
    return [*cmd, "-lc10", "-ltorch_cpu"]


def library_path(cxx: str) -> Path:
    """Where the library built from the current source by ``cxx`` lives."""
    key = hashlib.sha256()
    for part in (
        SOURCE.read_bytes(),
        torch.__version__.encode(),
        cxx.encode(),
        " ".join(COMPILE_FLAGS).encode(),
    ):
        key.update(part)
    return kernels_dir() / f"effnet_native-{key.hexdigest()[:16]}.so"


def build(verbose: bool = False) -> Path:
    """Compile the kernels (if this source, PyTorch and compiler have no library yet); its path.

    Raises:
        NativeKernelsUnavailable: no compiler, or the compilation failed (the message names the
            log file with the compiler's output).
    """
    cxx = compiler()
    if cxx is None:
        raise NativeKernelsUnavailable(
            "no C++ compiler found ($CXX, c++ or g++) to build the native kernels"
        )
    out = library_path(cxx)
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    if verbose:
        print(f"building effnet's native kernels with {cxx} (once, ~10-60 s)", file=sys.stderr)
    fd, tmp = tempfile.mkstemp(prefix=".effnet_native-", suffix=".so", dir=out.parent)
    os.close(fd)
    log = out.with_suffix(".log")
    try:
        cmd = _build_command(cxx, SOURCE, Path(tmp))
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            log.write_text(result.stdout + result.stderr)
            first = next((ln for ln in result.stderr.splitlines() if "error" in ln), "see the log")
            raise NativeKernelsUnavailable(
                f"building the native kernels failed: {first.strip()} (log: {log})"
            )
        os.replace(tmp, out)  # atomic: a concurrent or interrupted build leaves no half file
    finally:
        Path(tmp).unlink(missing_ok=True)  # a failed or interrupted build's partial output
    return out


def load(verbose: bool = False) -> None:
    """Make ``torch.ops.effnet_native`` available: check the CPU, build if needed, load.

    Raises:
        NativeKernelsUnavailable: with the reason (CPU, compiler, build) in one line.
    """
    global _loaded
    if _loaded is not None:
        return
    reason = cpu_supported()
    if reason is not None:
        raise NativeKernelsUnavailable(reason)
    path = build(verbose=verbose)
    try:
        torch.ops.load_library(str(path))
    except OSError as exc:  # a damaged file in the cache
        raise NativeKernelsUnavailable(
            f"cannot load {path} ({exc}); delete it to rebuild the native kernels"
        ) from None
    _loaded = path


def available() -> str | None:
    """``None`` if the kernels load here (building them if needed), else why not."""
    try:
        load()
    except NativeKernelsUnavailable as exc:
        return str(exc)
    return None
