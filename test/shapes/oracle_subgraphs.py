# Python onnx (Debian python3-onnx) shape inference of a whole model, subgraphs included:
# reads {"model": path, "inputs": {name: dims}} on stdin, fixes those graph inputs' dims,
# runs onnx.shape_inference.infer_shapes (data propagation on) and prints, for every value
# of every subgraph (If/Loop/Scan bodies, nested), its inferred dims (null = unknown dim).
import json, sys
import onnx

req = json.load(sys.stdin)
m = onnx.load(req["model"])
for i in m.graph.input:
    if i.name in req["inputs"]:
        dims = i.type.tensor_type.shape.dim
        for d, v in zip(dims, req["inputs"][i.name]):
            d.Clear()
            d.dim_value = v
inferred = onnx.shape_inference.infer_shapes(m, data_prop=True)
res = {}
def walk(g, path):
    for vi in list(g.value_info) + list(g.output):
        t = vi.type.tensor_type
        if t.HasField("shape"):
            res[path + vi.name] = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
    for n in g.node:
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                walk(a.g, f"{path}{n.name}.{a.name}/")
            elif a.type == onnx.AttributeProto.GRAPHS:
                for k, sg in enumerate(a.graphs):
                    walk(sg, f"{path}{n.name}.{a.name}[{k}]/")
for n in inferred.graph.node:
    for a in n.attribute:
        if a.type == onnx.AttributeProto.GRAPH:
            walk(a.g, f"{n.name}.{a.name}/")
print(json.dumps(res))
