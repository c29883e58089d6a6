#!/usr/bin/env python3
"""Exports torchvision DenseNet-121/169/201 to ONNX (opset 13) with RANDOM weights.

No pretrained weights are downloaded (weights=None): the learnability checks depend only on
the graph's topology, and the fusion planner only on shapes. Uses Debian's python3-torch and
python3-torchvision (apt-get install -y python3-torch python3-torchvision).

    /usr/bin/python3 scripts/export-densenet.py [out_dir]      (default: .cache/models)

Writes densenet121.onnx, densenet169.onnx, densenet201.onnx atomically (temp file + rename).
The binaries are not committed.
"""
import os
import sys

import torch
import torchvision


def main() -> int:
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".cache", "models")
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    for name in ("densenet121", "densenet169", "densenet201"):
        ctor = getattr(torchvision.models, name)
        try:
            model = ctor(weights=None)
        except TypeError:  # torchvision < 0.13 has no `weights`
            model = ctor(pretrained=False)
        model.eval()
        x = torch.randn(1, 3, 224, 224)
        path = os.path.join(out, f"{name}.onnx")
        tmp = path + ".tmp"
        torch.onnx.export(model, x, tmp, opset_version=13, input_names=["input"], output_names=["logits"], do_constant_folding=True)
        os.replace(tmp, path)
        print(f"wrote {path} ({os.path.getsize(path) / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
