/**
 * A deep copy of plain data (objects, arrays, primitives) whose objects all get their hidden
 * classes (V8 maps) from one code path: objects from `{}` with their keys added in order,
 * arrays by Array.from. Two copies of equal data therefore share maps, whatever made the originals: an
 * object literal in one function, V8's structured-clone deserializer in another thread.
 *
 * Why (the sweep's pool): a thread plans both op graphs it built and op graphs another thread
 * built and sent serialized (node:v8). The two kinds had different maps, so the planner's
 * optimized code met a second map for every object of the graph: 3x the deoptimizations
 * ("wrong map") of a single thread, each followed by a re-optimization on V8's compiler threads,
 * 30% more CPU for the same points (4 shared models x 8 sizes x LBDF,BRR with the optimum, a
 * pool of 2: 47.7 s of CPU against 36.6 s with one thread). Hand-written: structuredClone and
 * v8.deserialize are the very paths whose maps differ from a literal's.
 */
export function sameShapes<T>(x: T): T {
  if (typeof x !== 'object' || x === null) return x;
  // Array.from, not pushes onto a literal `[]`: a literal has an allocation site whose elements
  // kind V8 widens for every later array of that site once one held arrays, so the same data
  // copied later got another map; Array.from's kind depends on the elements alone.
  if (Array.isArray(x)) return Array.from(x, sameShapes) as T;
  const proto = Object.getPrototypeOf(x);
  if (proto !== Object.prototype && proto !== null) throw new Error(`sameShapes: not plain data (${proto?.constructor?.name ?? 'unknown'} object)`);
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(x)) out[k] = sameShapes((x as Record<string, unknown>)[k]);
  return out as T;
}
