// dnnfuse sweep's model arguments (expandModelArgs): files, folders, and globs in the shell's
// syntax ('**' across folders, braces), checked against a listing written out by hand; the refusals
// are one line naming the argument.
import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expandModelArgs } from '../../src/sweep/grid.ts';
import { isDnnfuseError } from '../../src/errors.ts';
import { makeDir } from './fixture.ts';

const { dir, cleanup } = makeDir('model-args');
test.after(cleanup);

// zoo/a.onnx zoo/b.onnx.gz zoo/notes.txt zoo/w.onnx.data zoo/vision/c.onnx zoo/vision/deep/d.onnx
// zoo/audio/e.onnx zoo/odd[1].onnx (a name with glob characters) empty/
const files = ['a.onnx', 'b.onnx.gz', 'notes.txt', 'w.onnx.data', 'vision/c.onnx', 'vision/deep/d.onnx', 'audio/e.onnx', 'odd[1].onnx'];
const zoo = join(dir, 'zoo');
for (const f of files) {
  mkdirSync(join(zoo, f, '..'), { recursive: true });
  writeFileSync(join(zoo, f), '');
}
mkdirSync(join(dir, 'empty'));
const at = (...fs: string[]) => fs.map((f) => join(zoo, f)).sort();

test('files, folders and globs give the model files they name, sorted, once each', () => {
  const cases: [string[], string[]][] = [
    [[join(zoo, 'a.onnx')], at('a.onnx')],
    [[zoo], at('a.onnx', 'b.onnx.gz', 'odd[1].onnx')], // a folder: its own models, not its subfolders'
    [[join(zoo, '*.onnx')], at('a.onnx', 'odd[1].onnx')],
    [[join(zoo, '*')], at('a.onnx', 'b.onnx.gz', 'odd[1].onnx')], // only model files
    [[join(zoo, '**', '*.onnx')], at('a.onnx', 'odd[1].onnx', 'vision/c.onnx', 'vision/deep/d.onnx', 'audio/e.onnx')],
    [[join(zoo, '**', '*.onnx*')], at('a.onnx', 'b.onnx.gz', 'odd[1].onnx', 'vision/c.onnx', 'vision/deep/d.onnx', 'audio/e.onnx')],
    [[join(zoo, '{vision,audio}', '*.onnx')], at('vision/c.onnx', 'audio/e.onnx')],
    [[join(zoo, 'odd[1].onnx')], at('odd[1].onnx')], // an existing path is literal
    [[join(zoo, 'a.onnx'), join(zoo, '*.onnx'), zoo], at('a.onnx', 'b.onnx.gz', 'odd[1].onnx')],
  ];
  for (const [args, want] of cases) assert.deepEqual(expandModelArgs(args), want, args.join(' '));
});

test('an argument that names no model is refused with one line naming it', () => {
  const refusals: [string, RegExp][] = [
    [join(zoo, 'missing.onnx'), /^model file not found: .*missing\.onnx$/],
    [join(dir, 'empty'), /^model folder .*empty: no \.onnx or \.onnx\.gz file in it \(subfolders are not searched: give '.*empty\/\*\*\/\*\.onnx\*'\)$/],
    [join(zoo, '**', '*.pt'), /^model glob .*\*\.pt: no \.onnx or \.onnx\.gz file matches$/],
    [join(dir, 'nowhere', '*.onnx'), /^model glob .*nowhere\/\*\.onnx: no \.onnx or \.onnx\.gz file matches$/],
  ];
  for (const [arg, re] of refusals) {
    assert.throws(
      () => expandModelArgs([arg]),
      (e: unknown) => isDnnfuseError(e) && e.kind === 'bad-input' && re.test(e.message) && !e.message.includes('\n'),
      arg,
    );
  }
});
