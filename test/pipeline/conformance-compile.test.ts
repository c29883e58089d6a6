/**
 * `compile` (default pipeline, onnxruntime check on the model's own reference inputs) over ONNX's
 * conformance node models (Debian's libonnx-testdata): every model either compiles, with the
 * check passing or skipped for a stated reason, or is refused with a one-line DnnfuseError. No
 * crash, no check failure, no other exception. A third of the 932 models (every third, by name)
 * keeps the suite's time; the full sweep found the cases in check-edge-models.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { compileModel } from '../../src/compile.ts';
import { isDnnfuseError } from '../../src/errors.ts';

const NODE = '/usr/share/libonnx-testdata/data/node';
const skip = existsSync(NODE) ? false : `${NODE} not found (apt-get install libonnx-testdata; .ci/run does it)`;

test('compile on every third conformance node model: compiled and checked, or a one-line refusal', { skip, timeout: 600_000 }, async (t) => {
  const dirs = readdirSync(NODE).filter((d) => existsSync(join(NODE, d, 'model.onnx'))).sort().filter((_, i) => i % 3 === 0);
  const bad: string[] = [];
  let checked = 0, skipped = 0, refused = 0;
  for (const d of dirs) {
    const data = join(NODE, d, 'test_data_set_0');
    try {
      const r = await compileModel(join(NODE, d, 'model.onnx'), { inputs: existsSync(join(data, 'input_0.pb')) ? [data] : undefined });
      const v = r.schedule.verification;
      if (v?.checked) checked++;
      else if (v?.reason) skipped++;
      else bad.push(`${d}: no check and no reason`);
    } catch (e) {
      if (!isDnnfuseError(e)) bad.push(`${d}: ${e instanceof Error ? e.stack?.split('\n')[0] : String(e)}`);
      else if (e.kind === 'verification') bad.push(`${d}: the check failed: ${e.message}`);
      else if (e.message.includes('\n')) bad.push(`${d}: a message of several lines`);
      else refused++;
    }
  }
  t.diagnostic(`${dirs.length} models: ${checked} checked, ${skipped} check skipped with a reason, ${refused} refused in one line`);
  assert.deepEqual(bad, []);
  assert.ok(checked >= 0.9 * dirs.length, `${checked} of ${dirs.length} checked (${skipped} skipped, ${refused} refused)`);
});
