#!/usr/bin/env bash
# Regenerate every picture in docs/images from nothing but this checkout: the demo data, six
# training runs and the CLI. About 30 minutes on 2 CPU cores (EPOCHS=10 for a quick look).
#
#   bash docs/make_images.sh            # runs in runs/docs, pictures in docs/images
#   RUNS=/tmp/r IMAGES=/tmp/i EPOCHS=1 MAIN_EPOCHS=1 bash docs/make_images.sh   # a smoke test
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-runs/docs}
IMAGES=${IMAGES:-docs/images}
EPOCHS=${EPOCHS:-30}                # the five CAM networks
MAIN_EPOCHS=${MAIN_EPOCHS:-}        # the main job (`effnet train`): its own default when empty
mkdir -p "$RUNS" "$IMAGES"

# The five networks of the CAM figure (paper Fig. 7): a small stride-8 MBConv network at 64 px
# and the same network scaled by depth, width, resolution, and all three together (§3.3).
python - "$RUNS" <<'EOF'
import sys
from pathlib import Path

import effnet
from effnet.models.spec import NetworkSpec, StageSpec

runs = Path(sys.argv[1])
base = NetworkSpec(
    name="tiny",
    stages=(
        StageSpec("mbconv", 1, 3, 2, 1, 16, 0.25),
        StageSpec("mbconv", 2, 3, 2, 4, 32, 0.25),
        StageSpec("mbconv", 2, 3, 1, 4, 48, 0.25),
    ),
    stem_channels=16,
    head_channels=128,
    resolution=64,
    dropout=0.1,
    drop_path=0.0,
)
variants = {
    "base": base,
    "depth2": effnet.scale(base, depth=2.0),
    "width2": effnet.scale(base, width=2.0),
    "res96": effnet.scale(base, resolution=1.5),
    "compound": effnet.scale(base, depth=1.4, width=1.4, resolution=1.25),
}
for key, spec in variants.items():
    (runs / f"{key}.json").write_text(spec.replace(name=f"tiny_{key}").to_json())
    print(f"{key}: {spec.resolution} px, width {spec.width:g}, depth {spec.depth:g}")
EOF

for v in base depth2 width2 res96 compound; do
  res=$(python -c "import sys, effnet; print(effnet.NetworkSpec.from_json(open(sys.argv[1]).read()).resolution)" "$RUNS/$v.json")
  effnet train --recipe small --model "$RUNS/$v.json" --resolution "$res" --epochs "$EPOCHS" \
    --out "$RUNS/$v" --no-progress | tail -n 2
done

# Three demo-style scenes of other sizes and aspect ratios (the maps follow the original image).
python - "$RUNS" <<'EOF'
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from effnet.data.demo import render

runs = Path(sys.argv[1])
for name, size, seed in (("star", (96, 96), 5), ("ring", (150, 100), 4), ("cross", (96, 150), 5)):
    img = render(name, np.random.default_rng([7, seed]), size)
    Image.fromarray(img).save(runs / f"{name}_{size[0]}x{size[1]}.png")
EOF

effnet cam \
  --weights "$RUNS/base/best.safetensors" --label "baseline (64px)" \
  --weights "$RUNS/depth2/best.safetensors" --label "deeper (d=2)" \
  --weights "$RUNS/width2/best.safetensors" --label "wider (w=2)" \
  --weights "$RUNS/res96/best.safetensors" --label "higher res (r=1.5)" \
  --weights "$RUNS/compound/best.safetensors" --label "compound (1.4,1.4,1.25)" \
  --image "$RUNS/star_96x96.png" "$RUNS/ring_150x100.png" "$RUNS/cross_96x150.png" \
  --out "$IMAGES/cam_demo.png"
effnet plot accuracy "$RUNS"/{base,depth2,width2,res96,compound} --out "$IMAGES/accuracy_macs.png"

# The main job's curves, the 2^phi law and the profile.
effnet train --out "$RUNS/default" --no-progress ${MAIN_EPOCHS:+--epochs "$MAIN_EPOCHS"} | tail -n 2
effnet plot curves "$RUNS/default" --out "$IMAGES/curves_demo.png"
effnet plot scaling --base efficientnet_b0 --phis 0:7 --out "$IMAGES/scaling_phi.png"
effnet profile --models efficientnet_b0,efficientnet_b1,efficientnet_b2,mobilenet_v2,resnet50 \
  --plot "$IMAGES/profile.png"
