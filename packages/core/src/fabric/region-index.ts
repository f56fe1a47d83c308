import type { PTable } from "../encoding/ptable.js";
import type { RegionState } from "../world/region-state.js";

/**
 * A lookup structure over a world's region table, so that finding a region
 * by name or by address costs O(log n) instead of a scan (issue 10, "indexes,
 * not scans"). It is derived data: built from the table on first use and
 * cached by the table's identity (tables are immutable, so a cached index
 * never goes stale); a step that changes no region reuses it, one that adds,
 * frees or resets a region gets a new table and so a new index.
 *
 * The address index cuts the address space at every region boundary into
 * elementary intervals; each keeps the regions covering it, smallest first,
 * owned and freed apart (regions nest: a buffer inside RAM; and freed
 * regions may overlap the owned ones that reuse their memory).
 */
export interface RegionIndex {
  /** Table id by region name. */
  readonly byName: ReadonlyMap<string, number>;
  /** Start of each elementary interval, ascending. */
  readonly starts: readonly bigint[];
  /** For each interval, the owned regions covering it (table ids), smallest first. */
  readonly owned: readonly (readonly number[])[];
  /** For each interval, the freed regions covering it, smallest first. */
  readonly freed: readonly (readonly number[])[];
  /** Device memory a peer may reach by bus address (BARs, VRAM): table ids, in id order. */
  readonly windows: readonly number[];
}

const cache = new WeakMap<PTable<RegionState>, RegionIndex>();

/**
 * The index of a region table (built once per table).
 *
 * @param regions - the world's region table.
 * @returns its index.
 */
export function regionIndex(regions: PTable<RegionState>): RegionIndex {
  const hit = cache.get(regions);
  if (hit !== undefined) return hit;
  const built = build(regions);
  cache.set(regions, built);
  return built;
}

function build(regions: PTable<RegionState>): RegionIndex {
  const byName = new Map<string, number>();
  const bounds = new Set<bigint>();
  const all: [number, RegionState][] = [];
  const windows: number[] = [];
  for (const entry of regions.entries()) {
    const [id, r] = entry;
    if (r.kind !== "ram" && r.device !== undefined) windows.push(id);
    // Names are unique; the first id keeps a name, as a scan in id order would find it.
    if (!byName.has(r.id)) byName.set(r.id, id);
    all.push(entry);
    bounds.add(r.base);
    bounds.add(r.base + r.size);
  }
  const starts = [...bounds].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const owned: number[][] = starts.map(() => []);
  const freed: number[][] = starts.map(() => []);
  for (const [id, r] of all) {
    const end = r.base + r.size;
    for (let i = lowerBound(starts, r.base); i < starts.length && (starts[i] ?? end) < end; i++) {
      (r.status === "freed" ? freed : owned)[i]?.push(id);
    }
  }
  const bySize = (a: number, b: number): number => {
    const x = regions.get(a)?.size ?? 0n;
    const y = regions.get(b)?.size ?? 0n;
    return x < y ? -1 : x > y ? 1 : a - b;
  };
  for (const list of owned) list.sort(bySize);
  for (const list of freed) list.sort(bySize);
  return { byName, starts, owned, freed, windows };
}

/** The first index whose start is >= v. */
function lowerBound(xs: readonly bigint[], v: bigint): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((xs[mid] ?? v) < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The elementary interval holding an address, or -1 when it lies before
 * every region.
 *
 * @param index - the index.
 * @param phys - the address.
 * @returns the interval's position in `starts`.
 */
export function intervalAt(index: RegionIndex, phys: bigint): number {
  const i = lowerBound(index.starts, phys);
  return index.starts[i] === phys ? i : i - 1;
}
