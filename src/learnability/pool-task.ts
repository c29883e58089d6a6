/** What an ensemble-pool thread runs for each task (started by util/pool.ts's poolWorker): one member. */
import { trainRequested, type TrainRequest } from './predictors.ts';

export interface MemberTask {
  request: Omit<TrainRequest, 'from' | 'to'>;
  index: number;
}

export default function poolTask(task: MemberTask): { w1: Float64Array; w2: Float64Array; loss: number; epochs: number } {
  const r = trainRequested(task.request, task.index);
  return { w1: r.member.w1, w2: r.member.w2, loss: r.loss, epochs: r.epochs };
}
