# Exports torchvision's SSDlite320-MobileNetV3-Large detector (random weights, seeded: no
# download; the graph is what matters) to ONNX, opset 11, one 3x320x320 image (input images [3,320,320]). The exported
# graph carries the detector's post-processing: score thresholding, top-k, box decoding and
# NonMaxSuppression, with data-dependent output sizes.
# Usage: /usr/bin/python3 export_ssdlite.py OUT.onnx   (Debian: python3-torch python3-torchvision)
import sys
import torch
import torchvision

out = sys.argv[1]
torch.manual_seed(0)
model = torchvision.models.detection.ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=91)
model.eval()
x = torch.rand(3, 320, 320)
with torch.no_grad():
    torch.onnx.export(model, ([x],), out, opset_version=11, input_names=["images"],
                      output_names=["boxes", "scores", "labels"], do_constant_folding=True)
print("ok", out)
