/**
 * Seeded randomness for every search and training run. Built on pure-rand (fast-check's
 * generator library): xoroshiro128+, deterministic across platforms.
 */
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';

type Generator = ReturnType<typeof xoroshiro128plus>;

/** dnnfuse's seeded random number generator (xoroshiro128+): same seed, same stream. */
export class Rng {
  private gen: Generator;
  constructor(seed: number) {
    this.gen = xoroshiro128plus(seed | 0);
  }
  /** Uniform float in [0, 1). */
  next(): number {
    return uniformFloat64(this.gen);
  }
  /** Uniform integer in [lo, hi] inclusive. */
  int(lo: number, hi: number): number {
    return uniformInt(this.gen, lo, hi);
  }
  /** Standard normal (Box-Muller). */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(0, xs.length - 1)];
  }
  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      [xs[i], xs[j]] = [xs[j], xs[i]];
    }
    return xs;
  }
  /** A copy at the same point of the same stream (it draws what this one would draw next). */
  clone(): Rng {
    const r = Object.create(Rng.prototype) as Rng;
    r.gen = this.gen.clone();
    return r;
  }
  /** An independent child generator (for per-member / per-restart streams). */
  fork(): Rng {
    return new Rng(this.int(-0x80000000, 0x7fffffff));
  }
}
