"""Publishing a model to the Hugging Face Hub with ``huggingface_hub``'s own upload: the
repository folder of :func:`~effnet.publish.save.save_pretrained`, in one commit."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from typing import Any

from torch import nn

from effnet.publish.save import save_pretrained
from effnet.weights.fetch import DownloadError, check_reachable


class PushError(RuntimeError):
    """Nothing was pushed; the message says why."""


def push_to_hub(
    model: nn.Module,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    token: str | None = None,
    commit_message: str | None = None,
    summary: Mapping[str, Any] | None = None,
    license: str = "apache-2.0",
) -> str:
    """Push ``model`` to the Hub model repository ``repo_id`` (created if missing, ``private``
    then) on the branch ``revision`` (default ``main``; created if missing) and return the
    commit's URL. The folder is written locally first and uploaded as one commit, so a failed
    push leaves the repository as it was. Raises :class:`PushError` without a token (``hf auth
    login`` or ``HF_TOKEN``), offline, or when the Hub refuses."""
    from huggingface_hub import HfApi, constants, get_token

    if constants.HF_HUB_OFFLINE:
        raise PushError("HF_HUB_OFFLINE is set; nothing was pushed")
    token = token or get_token()
    if not token:
        raise PushError(
            "no Hugging Face token (run `hf auth login` or set HF_TOKEN); nothing was pushed"
        )
    try:
        check_reachable(constants.ENDPOINT)
    except DownloadError as exc:
        raise PushError(f"{exc}; nothing was pushed") from None
    api = HfApi(token=token)
    with tempfile.TemporaryDirectory(prefix="effnet-push-") as folder:
        save_pretrained(model, folder, repo_id=repo_id, summary=summary, license=license)
        try:
            api.create_repo(repo_id, private=private, exist_ok=True)
            if revision:
                api.create_branch(repo_id, branch=revision, exist_ok=True)
            commit = api.upload_folder(
                repo_id=repo_id,
                folder_path=folder,
                revision=revision,
                commit_message=commit_message or "effnet: push model",
            )
        except Exception as exc:  # HTTP, auth, quota: huggingface_hub's many kinds
            text = " ".join(str(exc).split())[:300]
            raise PushError(f"pushing to {repo_id} failed ({text}); no commit was made") from None
    return str(commit.commit_url)
