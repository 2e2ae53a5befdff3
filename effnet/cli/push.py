"""``effnet push``: publish a training run or an effnet weights file to the Hugging Face Hub
as a repository in timm's format (``config.json``, ``model.safetensors``, a model card), or
write that repository's folder locally with ``--save-dir``."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "push",
        help="publish a run or weights file to the Hugging Face Hub (timm's format)",
        description="Publish RUN (a training run's folder: its best.safetensors and "
        "summary.json) or an effnet weights file as a Hub model repository in timm's format: "
        "config.json, model.safetensors and a model card. timm loads it with "
        'timm.create_model("hf-hub:ORG/NAME", pretrained=True) for its EfficientNet '
        "architectures; effnet loads any (--pretrained hf-hub:ORG/NAME). Needs a token "
        "(hf auth login, or HF_TOKEN); the upload is one commit.",
    )
    p.add_argument("path", metavar="RUN_OR_WEIGHTS", help="a run's folder or a .safetensors file")
    p.add_argument("--repo", metavar="ORG/NAME", help="the Hub repository (created if missing)")
    p.add_argument("--private", action="store_true", help="create the repository private")
    p.add_argument("--revision", metavar="BRANCH", help="push to this branch (default: main)")
    p.add_argument("--license", default="apache-2.0", help="license named in the model card")
    p.add_argument(
        "--save-dir",
        metavar="DIR",
        help="write the repository's folder here; without --repo nothing is uploaded",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from effnet.cli import UserError
    from effnet.publish.push import push_to_hub
    from effnet.publish.save import load_run, save_pretrained

    if not args.repo and not args.save_dir:
        raise UserError("give --repo ORG/NAME (push), --save-dir DIR (write locally), or both")
    if args.repo and (args.repo.count("/") != 1 or not all(args.repo.split("/"))):
        raise UserError(f"--repo {args.repo}: a Hub repository is named ORG/NAME")
    model, summary = load_run(args.path)
    card = {"repo_id": args.repo, "summary": summary, "license": args.license}
    if args.save_dir:
        folder = save_pretrained(model, args.save_dir, **card)
        print(f"wrote {folder}/: config.json, model.safetensors, README.md")
    if args.repo:
        url = push_to_hub(
            model,
            args.repo,
            private=args.private,
            revision=args.revision,
            summary=summary,
            license=args.license,
        )
        print(f"pushed {args.path} to {args.repo}: {url}")
        print(f'load it: effnet.create_model("hf-hub:{args.repo}", pretrained=True)')
    return 0
