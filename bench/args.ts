/**
 * Command-line options of the benches and of `npm run corpus`: node's `parseArgs` in strict mode, so a
 * mistyped option is refused (one line, exit 2) instead of silently running the whole bench with
 * defaults.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export function benchArgs<O extends NonNullable<ParseArgsConfig['options']>>(options: O, argv = process.argv.slice(2)) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (e) {
    const known = Object.keys(options).map((k) => `--${k}`).join(' ');
    process.stderr.write(`${(e as Error).message.split('\n')[0]} (options: ${known})\n`);
    process.exit(2);
  }
}
