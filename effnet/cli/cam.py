"""``effnet cam``: class activation maps of one or several models over images (paper Fig. 7)."""

from __future__ import annotations

import argparse

from effnet.cli import validate
from effnet.cli.options import (
    add_inputs,
    add_weights_options,
    inputs,
    names_published,
    pretrained_label,
)
from effnet.cli.validate import resolution
from effnet.types import CamMethod, choices


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "cam",
        help="class activation maps (CAM / Grad-CAM) over images, models side by side",
        description="Draw class activation maps (Zhou et al. 2016) or Grad-CAM (Selvaraju et "
        "al. 2017) over the original images, one column per --weights file and one for "
        "--pretrained (as in the paper's Fig. 7), with the predicted class and probability in "
        "each panel. The map covers the eval crop (dashed square), placed where it lies in the "
        "original image.",
    )
    add_weights_options(p, many=True)
    p.add_argument(
        "--label",
        action="append",
        metavar="TEXT",
        help="column title per --weights, then --pretrained (default: model name and folder)",
    )
    add_inputs(
        p,
        "images",
        flag="--image",
        metavar="IMAGE",
        help="image files, any size and aspect ratio (also as --image)",
        many=True,
    )
    p.add_argument("--out", required=True, metavar="FILE.png", help="output PNG")
    p.add_argument("--method", choices=choices(CamMethod), default="cam", help="cam or gradcam")
    p.add_argument(
        "--target",
        metavar="CLASS",
        help="class to explain, by name or index (default: each model's prediction)",
    )
    p.add_argument(
        "--resolution",
        type=resolution,
        help="eval resolution for every model (default: each model's own)",
    )
    p.add_argument(
        "--eval-crop",
        type=validate.crop_fraction,
        default=None,
        help=validate.EVAL_CROP_HELP,
    )
    p.set_defaults(run=run)


def _target(value: str | None, names: list[str] | None, num_classes: int) -> int | None:
    from effnet.cli import UserError

    if value is None:
        return None
    if names and value in names:
        return names.index(value)
    if value.lstrip("-").isdigit() and 0 <= int(value) < num_classes:
        return int(value)
    known = f"; classes: {', '.join(names)}" if names else ""
    raise UserError(f"--target {value!r} is not a class index in [0, {num_classes}){known}")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from effnet.analysis.cam import image_cams
    from effnet.analysis.plots import CamColumn, plot_cam_grid
    from effnet.cli import UserError
    from effnet.data.image import load_image
    from effnet.weights.loading import load_for_eval

    images_in = inputs(args, "images", flag="--image")
    tagged = names_published(args.model)
    published = bool(args.pretrained) or (tagged and not args.weights)
    sources: list[str | None] = [*(args.weights or []), *([None] if published else [])]
    if not sources:
        raise UserError("give --weights FILE (repeatable) and/or --pretrained [LIB[.TAG]]")
    if args.label and len(args.label) != len(sources):
        raise UserError(f"got {len(args.label)} --label for {len(sources)} models")
    if args.resolution is not None and args.resolution < 8:
        raise UserError(f"--resolution must be at least 8, got {args.resolution}")
    for path in (*(args.weights or []), *images_in):
        if not Path(path).is_file():
            raise FileNotFoundError(f"not found: {path}")
    try:
        images = [load_image(path) for path in images_in]
    except OSError as exc:
        raise UserError(f"cannot read image: {exc}") from None
    columns = []
    for k, weights in enumerate(sources):
        model, names, res, crop = load_for_eval(
            weights,
            model=args.model,
            source=args.source,
            resolution=args.resolution,
            crop=args.eval_crop,
            pretrained=None if weights else (args.pretrained or True),
        )
        target = _target(args.target, names, model.num_classes)
        cams = image_cams(
            model, images, method=args.method, target=target, resolution=res, crop=crop
        )
        where = (
            (Path(weights).parent.name or Path(weights).stem) if weights else pretrained_label(args)
        )
        label = args.label[k] if args.label else f"{model.spec.name} {res}px\n({where})"
        columns.append(CamColumn(label, cams, names))
    out = plot_cam_grid(images, columns, args.out, image_labels=[Path(p).name for p in images_in])
    for column in columns:
        for path, cam in zip(images_in, column.cams):
            print(
                f"{column.label.splitlines()[0]}: {Path(path).name}: {column.name(cam.predicted)} "
                f"{cam.probability:.1%}, map peak at (x, y) = {cam.peak()}"
            )
    print(f"wrote {out}")
    return 0
