/** Option parsers shared by the CLI commands. */

/** Commander's argument parser for a repeatable option (`--shape a=1x3 --shape b=2`): the
 * values in order. */
export const collect = (v: string, prev: string[] = []): string[] => [...prev, v];
