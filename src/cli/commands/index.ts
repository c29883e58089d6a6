import type { Command } from 'commander';
import { register as compile } from './compile.ts';
import { register as get } from './get.ts';
import { register as inspect } from './inspect.ts';
import { register as learnability } from './learnability.ts';
import { register as plan } from './plan.ts';
import { register as report } from './report.ts';
import { register as rewrite } from './rewrite.ts';
import { register as sgs } from './sgs.ts';
import { register as sweep } from './sweep.ts';
import { register as worker } from './worker.ts';

/** Every CLI command, in help order. Add a command by adding its module here. */
export const commands: ((program: Command) => void)[] = [compile, get, inspect, learnability, plan, report, rewrite, sgs, sweep, worker];
