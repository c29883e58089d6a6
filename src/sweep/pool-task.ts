/** What a pool thread runs for each task (loaded by pool-worker.mjs). */
import { runPoint, type PointRow, type PointTask } from './point.ts';

export default function poolTask(task: PointTask): Promise<PointRow> {
  return runPoint(task);
}
