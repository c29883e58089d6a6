# Second oracle for the shape rules: python onnx (Debian python3-onnx) shape inference with
# data propagation. Reads a JSON list of single-node cases on stdin, prints a JSON list of
# {"shapes": [[dims or null]...]} or {"error": "..."} per case. Used by test/shapes/*.test.ts.
import json, sys
import numpy as np
import onnx
import onnx.numpy_helper
from onnx import helper, TensorProto

NP = {1: np.float32, 7: np.int64, 6: np.int32, 9: np.bool_, 11: np.float64}

def attr_value(a):
    if a["type"] == "tensor":
        return helper.make_tensor("", a["dtype"], a["dims"], a["value"])
    return a["value"]

def run(case):
    inputs, inits, names = [], [], []
    for i, spec in enumerate(case["inputs"]):
        if spec is None:
            names.append("")
            continue
        name = f"in{i}"
        names.append(name)
        if spec.get("value") is not None:
            vals = spec["value"]
            if spec["dtype"] == 7:
                vals = [int(min(max(v, -2**63), 2**63 - 1)) for v in vals]
            arr = np.array(vals, dtype=NP[spec["dtype"]]).reshape(spec["shape"])
            inits.append(onnx.numpy_helper.from_array(arr, name))
        else:
            shape = [d if isinstance(d, int) else d for d in spec["shape"]]
            inputs.append(helper.make_tensor_value_info(name, spec["dtype"], shape))
    outs = [f"out{k}" for k in range(case["outputs"])]
    attrs = {k: attr_value(v) for k, v in case.get("attrs", {}).items()}
    node = helper.make_node(case["op"], names, outs, **attrs)
    graph = helper.make_graph([node], "g", inputs, [helper.make_empty_tensor_value_info(o) for o in outs], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", case["opset"])])
    model.ir_version = 8
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    types = {v.name: v.type for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
    res = []
    for o in outs:
        t = types.get(o)
        if t is None or not t.tensor_type.HasField("shape"):
            res.append(None)
            continue
        res.append([d.dim_value if d.HasField("dim_value") else None for d in t.tensor_type.shape.dim])
    return {"shapes": res}

out = []
for case in json.load(sys.stdin):
    try:
        out.append(run(case))
    except Exception as e:
        out.append({"error": str(e).splitlines()[0] if str(e) else type(e).__name__})
print(json.dumps(out))
