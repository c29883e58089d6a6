/**
 * Maps keyed by op-id lists (a group's sorted ids), compared id by id under a 30-bit hash:
 * what a Map<string, V> keyed by `ids.join(',')` does, without building a key string for every
 * lookup. The searches look groups up by the hundred thousand per point (the segment DP's
 * states and first-valid scans); their key strings were a tenth of a sweep's allocation.
 * Hand-written: JavaScript maps compare keys by identity, and no library offers a map over
 * int arrays by value.
 */
import type { Group } from './types.ts';

/** FNV-1a over the ids and their count, folded to 30 bits (a small integer: no heap number). */
export function hashIds(g: readonly number[]): number {
  let h = 0x811c9dc5 ^ g.length;
  for (const id of g) h = Math.imul(h ^ id, 0x01000193);
  return (h ^ (h >>> 30)) & 0x3fffffff;
}

/** hashIds of `g` without the id `w` (which `g` holds once), without building that list. */
function hashIdsWithout(g: readonly number[], w: number): number {
  let h = 0x811c9dc5 ^ (g.length - 1);
  for (const id of g) if (id !== w) h = Math.imul(h ^ id, 0x01000193);
  return (h ^ (h >>> 30)) & 0x3fffffff;
}

function sameIds(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** `a` equals `g` with the id `w` left out (`g` holds `w` once). */
function sameIdsWithout(a: readonly number[], g: readonly number[], w: number): boolean {
  if (a.length !== g.length - 1) return false;
  let i = 0;
  for (const id of g) {
    if (id === w) continue;
    if (a[i++] !== id) return false;
  }
  return true;
}

/**
 * A map from id lists to values, in insertion order like Map (setting an existing key keeps its
 * place). The map keeps the key arrays it is given: they must not change afterwards.
 */
export class IdsMap<V> {
  /** Hash -> the newest entry with that hash; `chain[i]`: the previous one (-1: none). */
  private readonly heads = new Map<number, number>();
  private readonly chain: number[] = [];
  private readonly keyList: (readonly number[])[] = [];
  private readonly valueList: V[] = [];

  get size(): number {
    return this.valueList.length;
  }

  get(ids: readonly number[]): V | undefined {
    for (let x = this.heads.get(hashIds(ids)) ?? -1; x >= 0; x = this.chain[x]) if (sameIds(this.keyList[x], ids)) return this.valueList[x];
    return undefined;
  }

  /** The value of `ids` with the id `w` left out (`ids` holds `w` once): get() of that list. */
  getWithout(ids: readonly number[], w: number): V | undefined {
    for (let x = this.heads.get(hashIdsWithout(ids, w)) ?? -1; x >= 0; x = this.chain[x]) if (sameIdsWithout(this.keyList[x], ids, w)) return this.valueList[x];
    return undefined;
  }

  set(ids: Group, value: V): void {
    const h = hashIds(ids);
    const first = this.heads.get(h) ?? -1;
    for (let x = first; x >= 0; x = this.chain[x]) {
      if (sameIds(this.keyList[x], ids)) {
        this.valueList[x] = value;
        return;
      }
    }
    this.heads.set(h, this.valueList.length);
    this.chain.push(first);
    this.keyList.push(ids);
    this.valueList.push(value);
  }

  /** The values in insertion order (the map's own array: read it, do not change it). */
  values(): readonly V[] {
    return this.valueList;
  }
}
