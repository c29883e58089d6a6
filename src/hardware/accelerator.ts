/** A parameterized accelerator: what the fusion cost models and latency estimates read.
 * Loading, validation and presets live beside this file. */
export type ElementType = 'int8' | 'fp16' | 'fp32';

/** An accelerator as the cost models and latency estimates see it: buffer size, element type, DRAM
 * bandwidth, compute. Presets in `hardwarePresets`; files per schema/hardware.schema.json.
 */
export interface Accelerator {
  name: string;
  /** On-chip buffer capacity in bytes (beta). */
  bufferBytes: number;
  /** Element type of feature maps and weights on the accelerator. */
  elementType: ElementType;
  /** DRAM bandwidth, bytes per second (latency estimates). */
  dramBytesPerSecond: number;
  /** Peak compute, multiply-accumulates per second (latency estimates). */
  macsPerSecond: number;
}

export function elementBytes(t: ElementType): number {
  return t === 'int8' ? 1 : t === 'fp16' ? 2 : 4;
}
