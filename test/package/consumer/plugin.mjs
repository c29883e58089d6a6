// A third-party pass loaded by `dnnfuse compile --plugin`: registers itself with the
// installed package's registry (the same module instance the CLI uses).
import { registerPass } from 'dnnfuse';

registerPass({
  name: 'count-convs',
  description: 'Count the Conv nodes',
  reads: ['graph'],
  writes: ['annotations:count-convs'],
  run: (m) => ({ changed: false, annotations: { convs: m.graph.nodes.filter((n) => n.opType === 'Conv').length } }),
});
