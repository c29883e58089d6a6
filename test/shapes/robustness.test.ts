/**
 * Robustness: shape rules on mutated cases (random attribute values, dropped attributes and
 * inputs, changed ranks, random constant values) must either infer or throw a one-line
 * bad-input/unsupported DnnfuseError naming the node — never crash with a TypeError or loop.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { inferCase, type AttrSpec, type Case, type InputSpec } from './cases.ts';
import { ROWS } from './rows.ts';
import { DnnfuseError } from '../../src/errors.ts';

const dim = fc.oneof(fc.integer({ min: 0, max: 6 }), fc.constant('N'), fc.constant(undefined));
const smallInt = fc.integer({ min: -4, max: 8 });

const mutateAttr = (s: AttrSpec): fc.Arbitrary<AttrSpec | undefined> => {
  switch (s.type) {
    case 'int': return fc.oneof(fc.constant(s), smallInt.map((value) => ({ type: 'int' as const, value })), fc.constant(undefined));
    case 'ints': return fc.oneof(fc.constant(s), fc.array(smallInt, { maxLength: 6 }).map((value) => ({ type: 'ints' as const, value })), fc.constant(undefined));
    case 'string': return fc.oneof(fc.constant(s), fc.constantFrom('SAME_UPPER', 'VALID', 'NOTSET', 'bogus', 'ij->ji', '...i,j', 'none').map((value) => ({ type: 'string' as const, value })));
    default: return fc.constant(s);
  }
};

const mutateInput = (s: InputSpec | null): fc.Arbitrary<InputSpec | null> => {
  if (!s) return fc.constant(null);
  if (s.value) {
    return fc.oneof(
      fc.constant(s),
      fc.array(fc.integer({ min: -6, max: 9 }), { minLength: 0, maxLength: 6 }).map((value) => ({ ...s, value, shape: [value.length] })),
      fc.constant(null),
    );
  }
  return fc.oneof(fc.constant(s), fc.array(dim, { maxLength: 5 }).map((shape) => ({ ...s, shape })), fc.constant(null));
};

const mutated: fc.Arbitrary<Case> = fc.constantFrom(...ROWS).chain((row) =>
  fc.record({
    attrs: fc.record(Object.fromEntries(Object.entries(row.attrs ?? {}).map(([k, v]) => [k, mutateAttr(v)]))),
    inputs: fc.tuple(...row.inputs.map(mutateInput)),
    opset: fc.constantFrom(row.opset ?? 13, 7, 11, 13, 18),
  }).map(({ attrs, inputs, opset }) => ({
    op: row.op,
    outputs: row.outputs,
    opset,
    inputs,
    attrs: Object.fromEntries(Object.entries(attrs).filter(([, v]) => v !== undefined)) as Record<string, AttrSpec>,
  })),
);

test('mutated cases infer or fail with a one-line DnnfuseError naming the node', () => {
  let inferred = 0, refused = 0;
  fc.assert(
    fc.property(mutated, (c) => {
      try {
        inferCase(c);
        inferred++;
      } catch (e) {
        assert.ok(e instanceof DnnfuseError, `${c.op}: ${String(e)} for ${JSON.stringify(c)}`);
        assert.ok(e.kind === 'bad-input' || e.kind === 'unsupported', `${c.op}: ${e.kind}: ${e.message} for ${JSON.stringify(c)}`);
        assert.match(e.message, /^node 'n' \(/);
        assert.ok(!e.message.includes('\n'));
        refused++;
      }
    }),
    { seed: 11, numRuns: 3000 },
  );
  console.log(`mutated cases: ${inferred} inferred, ${refused} refused with a clear error`);
});
