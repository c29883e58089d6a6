// Preloaded by corpus/run.ts (`node --import ./corpus/peak-rss.mjs bin/dnnfuse.mjs ...`): prints
// the process's peak resident set size on exit, for the corpus table's memory column.
process.on('exit', () => process.stderr.write(`corpus-peak-rss-kib ${process.resourceUsage().maxRSS}\n`));
