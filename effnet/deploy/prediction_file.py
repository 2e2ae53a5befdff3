"""Predictions to a file as they come: CSV (one row per image: path, error, then class and
probability for each of the top k) or JSON Lines (one :func:`effnet.predict` result per line),
chosen by the file's extension. Written to a temporary file beside the target and moved in
when complete, so an interrupted run leaves no half-written file."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

FORMATS = (".csv", ".jsonl")


def check_path(path: str | os.PathLike[str]) -> Path:
    """``path`` if its extension names a format, else ``ValueError``."""
    out = Path(path)
    if out.suffix.lower() not in FORMATS:
        raise ValueError(f"--out {out}: the extension must be one of {', '.join(FORMATS)}")
    return out


def write_predictions(
    results: Iterable[dict[str, Any]], path: str | os.PathLike[str], *, topk: int
) -> Iterator[dict[str, Any]]:
    """Write ``results`` to ``path`` while passing each one through (for printing or counting
    as they are written); the file appears when the last result is written."""
    out = check_path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial")
    try:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            if out.suffix.lower() == ".csv":
                writer = csv.writer(f)
                header = ["image", "error"]
                for k in range(1, topk + 1):
                    header += [f"class_{k}", f"probability_{k}"]
                writer.writerow(header)
                for r in results:
                    row = [r["image"], r.get("error", "")]
                    for t in r.get("top", []):
                        row += [t["class"], f"{t['probability']:.6f}"]
                    writer.writerow(row)
                    yield r
            else:
                for r in results:
                    f.write(json.dumps(r) + "\n")
                    yield r
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
