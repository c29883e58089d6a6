import type { Command } from 'commander';

/** Every CLI command, in help order. Add a command by adding its module here. */
export const commands: ((program: Command) => void)[] = [];
