/**
 * Accelerator models: named presets, JSON/YAML files validated against
 * schema/hardware.schema.json (ajv), and command-line overrides (`--buffer 256KiB --dtype int8`).
 * Every user mistake is one line naming the file and field, e.g.
 * `hardware config x.json: bufferBytes must be > 0`.
 */
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { createRequire } from 'node:module';
import type { Ajv, ErrorObject } from 'ajv';
import { readInputText } from '../util/input.ts';
import { badInput } from '../errors.ts';
import type { Accelerator, ElementType } from './accelerator.ts';

const require = createRequire(import.meta.url);
const schema = require('../../schema/hardware.schema.json') as object;
// ajv and yaml (about 140 modules) are required when a hardware file is read, not by every
// command that names a preset: a start-up cost otherwise (both packages ship CommonJS).
const ajv = () => require('ajv') as typeof import('ajv');
const yaml = () => require('yaml') as typeof import('yaml');

const KIB = 1024;
const MIB = 1024 * 1024;

/** Defaults for fields a file may omit: a small edge NPU (LPDDR4 x32 ~ 12.8 GB/s, 1 TMAC/s). */
export const HW_DEFAULTS = { elementType: 'int8' as ElementType, dramBytesPerSecond: 12.8e9, macsPerSecond: 1e12 };

/** Named accelerator presets. paper-128k / paper-256k are the settings of Mills et al.
 * (arXiv 2501.00636): 128 KB and 256 KB buffers; the paper does not state the element width,
 * its absolute figures (e.g. ResNet-50 LBDF ~25.8 MB, about its 25.6 M weights) fit 1-byte
 * elements, hence int8. Bandwidth/compute are ours (they only affect latency estimates). */
export const PRESETS: Record<string, Accelerator> = {
  'edge-512k': { name: 'edge-512k', bufferBytes: 512 * KIB, elementType: 'int8', dramBytesPerSecond: 12.8e9, macsPerSecond: 0.5e12 },
  'edge-1m': { name: 'edge-1m', bufferBytes: 1 * MIB, elementType: 'int8', dramBytesPerSecond: 12.8e9, macsPerSecond: 1e12 },
  'edge-2m': { name: 'edge-2m', bufferBytes: 2 * MIB, elementType: 'int8', dramBytesPerSecond: 25.6e9, macsPerSecond: 2e12 },
  'npu-8m': { name: 'npu-8m', bufferBytes: 8 * MIB, elementType: 'int8', dramBytesPerSecond: 51.2e9, macsPerSecond: 8e12 },
  'paper-128k': { name: 'paper-128k', bufferBytes: 128 * KIB, elementType: 'int8', dramBytesPerSecond: 12.8e9, macsPerSecond: 1e12 },
  'paper-256k': { name: 'paper-256k', bufferBytes: 256 * KIB, elementType: 'int8', dramBytesPerSecond: 12.8e9, macsPerSecond: 1e12 },
};

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1e3, kb: 1e3, kib: KIB, ki: KIB, m: 1e6, mb: 1e6, mib: MIB, mi: MIB, g: 1e9, gb: 1e9, gib: 1024 * MIB, gi: 1024 * MIB };

/** Parses `262144`, `256KiB`, `256 KB` (1000-based), `1MiB`, `1.5MB`. Returns NaN when malformed. */
export function parseSize(s: string | number): number {
  if (typeof s === 'number') return s;
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*$/.exec(s);
  if (!m) return NaN;
  const unit = UNITS[m[2].toLowerCase()];
  if (unit === undefined) return NaN;
  return Math.round(Number(m[1]) * unit);
}

/** Human form of a byte count in binary units (256 KiB, 1 MiB, 1.5 MiB). */
export function formatSize(bytes: number): string {
  if (bytes >= MIB && bytes % (MIB / 4) === 0) return `${bytes / MIB} MiB`;
  if (bytes >= KIB && bytes % KIB === 0) return `${bytes / KIB} KiB`;
  return `${bytes} B`;
}

let validator: ReturnType<Ajv['compile']> | undefined;
function validate(data: unknown): ErrorObject[] {
  validator ??= new (ajv().Ajv)({ allErrors: false, strict: false }).compile(schema);
  return validator(data) ? [] : (validator.errors ?? []);
}

function describeError(e: ErrorObject): string {
  const field = e.instancePath.replace(/^\//, '').replace(/\//g, '.') || '(root)';
  switch (e.keyword) {
    case 'required':
      return `missing required field ${(e.params as { missingProperty: string }).missingProperty}`;
    case 'additionalProperties':
      return `unknown field ${(e.params as { additionalProperty: string }).additionalProperty} (allowed: name, bufferBytes, elementType, dramBytesPerSecond, macsPerSecond)`;
    case 'enum':
      return `${field} must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
    case 'exclusiveMinimum':
      return `${field} must be > 0`;
    case 'anyOf':
      return `${field} must be a positive number of bytes or a size such as 256KiB`;
    case 'type':
      return `${field} must be a ${(e.params as { type: string }).type}`;
    default:
      return `${field} ${e.message ?? 'is invalid'}`;
  }
}

/** Validates a parsed config object; `where` names its origin in errors. */
export function acceleratorFromObject(obj: unknown, where: string): Accelerator {
  // Report the most specific error: a size string / number that is non-positive says "> 0".
  if (obj && typeof obj === 'object' && !Array.isArray(obj)) {
    for (const f of ['bufferBytes', 'dramBytesPerSecond', 'macsPerSecond'] as const) {
      const v = (obj as Record<string, unknown>)[f];
      if (typeof v === 'number' && !(v > 0)) throw badInput(`${where}: ${f} must be > 0`);
      if (typeof v === 'string' && Number.isFinite(parseSize(v)) && !(parseSize(v) > 0)) throw badInput(`${where}: ${f} must be > 0`);
    }
  } else throw badInput(`${where}: expected an object with bufferBytes, elementType, dramBytesPerSecond, macsPerSecond`);
  const errors = validate(obj);
  if (errors.length) {
    // anyOf errors come with their branches first; report the anyOf itself.
    const e = errors.find((x) => x.keyword === 'anyOf') ?? errors[0];
    throw badInput(`${where}: ${describeError(e)}`);
  }
  const o = obj as Record<string, string | number>;
  const acc: Accelerator = {
    name: typeof o.name === 'string' ? o.name : 'custom',
    bufferBytes: parseSize(o.bufferBytes),
    elementType: (o.elementType as ElementType | undefined) ?? HW_DEFAULTS.elementType,
    dramBytesPerSecond: o.dramBytesPerSecond !== undefined ? parseSize(o.dramBytesPerSecond) : HW_DEFAULTS.dramBytesPerSecond,
    macsPerSecond: o.macsPerSecond !== undefined ? Number(o.macsPerSecond) : HW_DEFAULTS.macsPerSecond,
  };
  if (!Number.isInteger(acc.bufferBytes) || acc.bufferBytes < 1) throw badInput(`${where}: bufferBytes must be a whole number of bytes > 0`);
  return acc;
}

/** Loads an accelerator from a .json / .yaml / .yml file. */
export function loadAcceleratorFile(path: string): Accelerator {
  const where = `hardware config ${basename(path)}`;
  if (!existsSync(path)) throw badInput(`${where}: file not found (${path})`);
  const text = readInputText(path, 'hardware file', 16 << 20);
  let data: unknown;
  try {
    data = /\.ya?ml$/i.test(path) ? yaml().parse(text) : JSON.parse(text);
  } catch (e) {
    throw badInput(`${where}: not valid ${/\.ya?ml$/i.test(path) ? 'YAML' : 'JSON'} (${(e as Error).message.split('\n')[0]})`);
  }
  const acc = acceleratorFromObject(data, where);
  if (acc.name === 'custom') acc.name = basename(path).replace(/\.(json|ya?ml)$/i, '');
  return acc;
}

/** Command-line style overrides of an accelerator (`--buffer 256KiB`, `--dtype int8`). */
export interface HardwareOverrides {
  buffer?: string | number;
  dtype?: string;
  bandwidth?: string | number;
  macs?: string | number;
}

/** `--hw preset|file` plus overrides. Unknown preset names that are not files list the presets. */
export function resolveAccelerator(spec: string | undefined, overrides: HardwareOverrides = {}): Accelerator {
  let acc: Accelerator;
  const s = spec ?? 'edge-512k';
  if (Object.hasOwn(PRESETS, s)) acc = { ...PRESETS[s] };
  else if (existsSync(s) || /\.(json|ya?ml)$/i.test(s)) acc = loadAcceleratorFile(s);
  else throw badInput(`--hw ${s}: neither a preset (${Object.keys(PRESETS).join(', ')}) nor a .json/.yaml file`);
  const patch: Record<string, unknown> = { ...acc };
  if (overrides.buffer !== undefined) patch.bufferBytes = overrides.buffer;
  if (overrides.dtype !== undefined) patch.elementType = overrides.dtype;
  if (overrides.bandwidth !== undefined) patch.dramBytesPerSecond = overrides.bandwidth;
  if (overrides.macs !== undefined) patch.macsPerSecond = typeof overrides.macs === 'string' ? parseSize(overrides.macs) : overrides.macs;
  if (overrides.buffer === undefined && overrides.dtype === undefined && overrides.bandwidth === undefined && overrides.macs === undefined) return acc;
  const a = acceleratorFromObject(patch, 'hardware overrides (--buffer/--dtype/--bandwidth/--macs)');
  a.name = overrides.buffer !== undefined || overrides.dtype !== undefined ? `${acc.name}[${formatSize(a.bufferBytes)},${a.elementType}]` : acc.name;
  return a;
}
