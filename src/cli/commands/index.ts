import type { Command } from 'commander';
import { register as compile } from './compile.ts';
import { register as report } from './report.ts';

/** Every CLI command, in help order. Add a command by adding its module here. */
export const commands: ((program: Command) => void)[] = [compile, report];
