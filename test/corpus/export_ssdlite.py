# Exports torchvision's SSDlite320-MobileNetV3-Large detector (random weights, seeded: no
# download; the graph is what matters) to ONNX, opset 11, one image (input images [3,320,320]).
# The exported graph carries the detector's post-processing: score thresholding, top-k, box
# decoding and NonMaxSuppression (inside an If), with data-dependent output sizes.
# Two classes (background + one object class, a person detector's head): torchvision's
# post-processing is unrolled once per class, and with COCO's 91 classes the graph has nodes of
# degree 92, for which the learnability pass grants no DFS certificate (max degree 16), so
# compile exits 1 on that model for a reason unrelated to detection (NUM_CLASSES=91 to see it).
# Usage: /usr/bin/python3 export_ssdlite.py OUT.onnx   (Debian: python3-torch python3-torchvision)
import os
import sys
import torch
import torchvision

out = sys.argv[1]
torch.manual_seed(0)
model = torchvision.models.detection.ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=int(os.environ.get("NUM_CLASSES", "2")))
model.eval()
x = torch.rand(3, 320, 320)
with torch.no_grad():
    torch.onnx.export(model, ([x],), out, opset_version=11, input_names=["images"],
                      output_names=["boxes", "scores", "labels"], do_constant_folding=True)
print("ok", out)
