/** What a pool thread runs for each task (started by util/pool.ts's poolWorker). */
import { runPoint, type PointRow, type PointTask } from './point.ts';

export default function poolTask(task: PointTask): Promise<PointRow> {
  return runPoint(task);
}
