/**
 * `dnnfuse report out/schedule.json -o report.html`: a self-contained HTML page of the schedule
 * (graph with fusion groups coloured, per-group memory against the buffer, DRAM-vs-buffer
 * curve). Writes atomically; never overwrites the schedule.
 */
import type { Command } from 'commander';
import { dirname, resolve, relative } from 'node:path';
import { badInput } from '../../errors.ts';
import { RunInputs, checkOutputTarget, writeOutput } from '../../util/output.ts';
import { readInputText } from '../../util/input.ts';
import { parseSchedule } from '../../passes/manager.ts';

export function register(program: Command): void {
  program
    .command('report')
    .description('Render a schedule.json as a self-contained HTML page (graph, fusion groups, memory, DRAM-vs-buffer curve)')
    .argument('[schedule]', 'schedule.json written by dnnfuse compile', 'out/schedule.json')
    .option('-o, --out <file>', 'output HTML file (- for stdout)', 'report.html')
    .option('--title <text>', 'page title')
    .option('--no-sweep', 'do not re-plan the recorded op graph at other buffer sizes when the schedule has no sweep')
    .option('-q, --quiet', 'no progress on stderr')
    .option('--json', 'print a machine-readable summary on stdout')
    .action(async (schedulePath: string, o: { out: string; title?: string; sweep: boolean; quiet?: boolean; json?: boolean }) => {
      const log = (m: string) => {
        if (!o.quiet) process.stderr.write(`dnnfuse: ${m}\n`);
      };
      let text: string;
      try {
        text = readInputText(schedulePath, 'schedule file', 1 << 30);
      } catch (e) {
        if (e instanceof Error && /not found/.test(e.message)) throw badInput(`schedule file not found: ${schedulePath} (run dnnfuse compile first)`);
        throw e;
      }
      const schedule = parseSchedule(text, schedulePath);
      const { generateReport, findModel } = await import('../../report/index.ts'); // elkjs loads on use
      // Inputs: the schedule, and the source model it names (not read; never written over).
      const inputs = new RunInputs().add(schedulePath, 'schedule file');
      const source = findModel(schedule, dirname(resolve(schedulePath)));
      if (source) inputs.add(source, 'model file (named by the schedule)');
      const toStdout = o.out === '-';
      if (!toStdout) checkOutputTarget(o.out, inputs);
      const html = await generateReport(schedule, { title: o.title, sweep: o.sweep, scheduleDir: dirname(resolve(schedulePath)), log });
      writeOutput(o.out, html, inputs, { stdoutOk: true });
      if (toStdout) return;
      const groups = (html.match(/class="fusion-group/g) ?? []).length;
      const rel = relative(process.cwd(), resolve(o.out));
      log(`wrote ${rel.startsWith('..') ? resolve(o.out) : rel} (${groups} fusion groups, ${(html.length / 1024).toFixed(0)} KiB)`);
      if (o.json) process.stdout.write(JSON.stringify({ ok: true, report: resolve(o.out), groups, bytes: Buffer.byteLength(html) }) + '\n');
    });
}
