"""Published weights files on this machine (:mod:`effnet.weights.published`): found in the
download cache each library uses, else downloaded there with a short timeout, else one line
saying what to put where.

torchvision: ``torch.hub.get_dir()/checkpoints/<basename of the URL>``, the file torchvision's
own ``Weights.get_state_dict`` (``torch.hub.load_state_dict_from_url``) keeps, downloaded by
``torch.hub.download_url_to_file``: checked against the SHA-256 prefix in the file name
(``torch.hub.HASH_REGEX``) and moved in only when complete. timm: the Hugging Face Hub cache
(``huggingface_hub.try_to_load_from_cache``), else ``huggingface_hub.hf_hub_download`` into
it. Files are only ever read as tensors (:func:`effnet.weights.io.read_tensors`).
"""

from __future__ import annotations

import socket
import sys
import urllib.parse
from pathlib import Path

import torch

from effnet.types import Source
from effnet.weights.published import TIMM_FILE, TIMM_WEIGHTS, timm_weights, torchvision_weights
from effnet.weights.tags import PublishedWeights

#: Seconds to wait for a server before giving up (connect and each read).
DOWNLOAD_TIMEOUT_S = 10.0


class WeightsUnavailableError(OSError):
    """Published weights are neither cached nor downloadable; the message says what to put
    where."""


class DownloadError(Exception):
    """A download failed."""


def _reason(exc: object) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def torchvision_cache_path(url: str) -> Path:
    """Where torchvision keeps the file of ``url``: ``<torch hub dir>/checkpoints/<name>``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def hash_prefix(filename: str) -> str | None:
    """The SHA-256 prefix torch.hub file names carry (``name-<prefix>.pth``), or ``None``."""
    match = torch.hub.HASH_REGEX.search(filename)
    return match.group(1) if match else None


def check_reachable(url: str, *, timeout: float = DOWNLOAD_TIMEOUT_S) -> None:
    """Raise :class:`DownloadError` unless a TCP connection to ``url``'s server opens within
    ``timeout`` seconds."""
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname or "", port), timeout=timeout).close()
    except OSError as exc:
        raise DownloadError(f"cannot reach {parts.hostname}: {_reason(exc)}") from None


def download(url: str, dest: Path) -> Path:
    """Fetch ``url`` to ``dest`` with ``torch.hub.download_url_to_file`` (a temporary file
    beside ``dest``, its SHA-256 checked against the prefix in the name, moved in when
    complete; nothing is left behind on failure)."""
    check_reachable(url)  # torch.hub's urlopen has no timeout of its own
    dest.parent.mkdir(parents=True, exist_ok=True)
    print(f"effnet: downloading {url} to {dest}", file=sys.stderr)
    expected = hash_prefix(dest.name)
    try:
        torch.hub.download_url_to_file(url, str(dest), expected, progress=sys.stderr.isatty())
    except RuntimeError as exc:  # torch.hub's hash check
        raise DownloadError(
            f"{dest.name}: SHA-256 is not {expected}...: a broken or changed file; it was not "
            f"kept ({_reason(exc)})"
        ) from None
    except OSError as exc:  # no network, refused, HTTP error, disk full
        raise DownloadError(_reason(getattr(exc, "reason", None) or exc)) from None
    return dest


def torchvision_file(name: str) -> Path:
    """The file of torchvision's ImageNet weights for ``name``: cached, else downloaded."""
    url = torchvision_weights(name).url
    path = torchvision_cache_path(url)
    if path.is_file():
        return path
    try:
        return download(url, path)
    except DownloadError as exc:
        raise WeightsUnavailableError(
            f"torchvision's {name} weights are not cached and could not be downloaded "
            f"({_reason(exc)}): download {url} to {path}, "
            f"or pass --weights FILE --source torchvision --model {name}"
        ) from None


class NotInRepositoryError(FileNotFoundError):
    """The Hub repository was reached and has no such file."""


def hub_download(repo_id: str, filename: str, *, revision: str | None = None) -> Path:
    """``filename`` of the Hub model repository ``repo_id`` at ``revision`` (a branch, tag or
    commit; default ``main``): from the Hugging Face cache, else downloaded into it. Raises
    :class:`DownloadError` (offline, unreachable, no such repository or revision) or
    :class:`NotInRepositoryError`."""
    from huggingface_hub import constants, hf_hub_download, try_to_load_from_cache
    from huggingface_hub.errors import EntryNotFoundError

    # the cache alone (hf_hub_download(local_files_only=True) would also ask the Hub for
    # its agent registry)
    cached = try_to_load_from_cache(repo_id, filename, revision=revision)
    if isinstance(cached, str) and Path(cached).is_file():
        return Path(cached)
    if constants.HF_HUB_OFFLINE:
        raise DownloadError("HF_HUB_OFFLINE is set")
    check_reachable(constants.ENDPOINT)  # huggingface_hub retries for ~20 s otherwise
    try:
        path = hf_hub_download(
            repo_id, filename, revision=revision, etag_timeout=DOWNLOAD_TIMEOUT_S
        )
    except EntryNotFoundError:
        raise NotInRepositoryError(f"{repo_id} has no {filename}") from None
    except Exception as exc:  # DNS, HTTP, timeout, unknown repository: huggingface_hub's kinds
        raise DownloadError(_reason(exc)) from None
    return Path(path)


def timm_file(name: str) -> tuple[Path, Source]:
    """The file of timm's ImageNet weights for ``name`` (a timm model name of
    :data:`~effnet.weights.published.TIMM_WEIGHTS`, or effnet's: timm's own weights first) and
    its layout (``timm`` or ``timm_tf``): from the Hugging Face cache, else downloaded into it."""
    from huggingface_hub import constants

    entry = TIMM_WEIGHTS[name] if name in TIMM_WEIGHTS else timm_weights(name)[1]
    try:
        path = hub_download(entry.hub_id, TIMM_FILE)
    except (DownloadError, NotInRepositoryError) as exc:
        raise WeightsUnavailableError(
            f"timm's {name} weights ({entry.hub_id}) are not in the Hugging Face cache "
            f"({constants.HF_HUB_CACHE}) and could not be downloaded ({_reason(exc)}): "
            f"download {entry.url} and pass --weights {TIMM_FILE} --source {entry.layout} "
            f"--model {name}, or fill the cache with `hf download {entry.hub_id} {TIMM_FILE}`"
        ) from None
    return path, entry.layout


def published_file(weights: PublishedWeights) -> tuple[Path, Source]:
    """``(file, layout)`` of a published file (:func:`effnet.weights.tags.resolve`), for
    :func:`effnet.load_pretrained` (``source=layout``)."""
    if weights.hub == "torchvision":
        return torchvision_file(weights.key), "torchvision"
    return timm_file(weights.key)
