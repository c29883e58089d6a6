/** What a pool thread runs for each task (started by util/pool.ts's poolWorker): a point, with
 * the op graph another thread built when the parent has one (see runPointShared). */
import { runPointShared, type PointTask, type SharedPointResult } from './point.ts';

export default function poolTask({ task, graph }: { task: PointTask; graph?: Uint8Array }): Promise<SharedPointResult> {
  return runPointShared(task, graph);
}
