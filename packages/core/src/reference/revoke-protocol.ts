import type { Machine } from "../machine/machine.js";
import { boot } from "../machine/machine.js";
import { pendingOps } from "../machine/pending.js";
import type { Op } from "../lifetime/op.js";
import { step } from "../lifetime/step.js";
import type { RegionStatus } from "../world/region-state.js";
import type { World } from "../world/world.js";
import { hashWorld, worldsEqual } from "../world/world.js";
import { importerHolder } from "./importer.js";
import { referenceMachine } from "./machine.js";
import { refExporterPriv } from "./exporter.js";
import { payloadAs } from "../mapping-types/define.js";
import { sgt } from "../mapping-types/sgt.js";

const EXPORTER_HOLDER = "exp0";

/**
 * The moves of the reference revoke protocol enabled in a world (issue 6's
 * test protocol): each device's dynamic `ref-importer` attaches, locks,
 * maps, submits DMA, unmaps, unlocks and detaches as often as it likes (a
 * correct importer unmaps or detaches only once its own fences signalled),
 * and the exporter revokes temporarily for a reset (region inaccessible,
 * then live, then un-revoke) or for good (close). With the kernel's own
 * continuations (`pendingOps`) these are every transition a breadth-first
 * exploration tries.
 *
 * @param w - the world.
 * @param buf - the buffer of the protocol.
 * @param devices - the importing devices (one attachment each).
 * @param waitsForOwnFences - false: an importer may unmap or detach with its
 *   own DMA in flight (the bug the oracle must catch).
 * @returns the enabled ops.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { revokeProtocolOps, revokeProtocolStart } from "@dmabuf-ref/core";
 *
 * const { w, buf } = revokeProtocolStart();
 * // nothing attached yet: dev0 may attach, or the exporter revokes
 * assert.deepEqual(
 *   revokeProtocolOps(w, buf, ["dev0"]).map((op) => op.kind),
 *   ["attach", "revoke", "revoke"],
 * );
 * ```
 *
 * @category Exploration
 */
export function revokeProtocolOps(
  w: World,
  buf: number,
  devices: readonly string[],
  waitsForOwnFences = true,
): Op[] {
  const ops: Op[] = [];
  const b = w.bufs.get(buf);
  if (b === undefined || b.released) return ops;
  for (const device of devices) {
    const att = [...w.atts.entries()].find(([, a]) => a.device === device);
    if (att === undefined) {
      if (b.fds > 0)
        ops.push({ kind: "attach", buf, importer: "ref-importer", device, dynamic: true });
      continue;
    }
    const [id, a] = att;
    const holder = importerHolder("ref-importer", id);
    if (b.resvHolder === null) ops.push({ kind: "lock", buf, holder });
    // A correct importer unmaps or detaches only once its own fences signalled.
    const inFlight = [...w.jobs.values()].some((j) => j.att === id);
    const busy = waitsForOwnFences && inFlight;
    if (b.resvHolder === holder) {
      ops.push({ kind: "unlock", buf, holder });
      if (a.mapping === null) ops.push({ kind: "map", att: id, holder });
      else if (!busy) ops.push({ kind: "unmap", att: id, holder });
      if (a.mapping !== null && !a.invalidated && !inFlight) {
        const addr = payloadAs(sgt, a.mapping.payload).entries[0]?.dmaAddress;
        if (addr !== undefined)
          ops.push({ kind: "dma-submit", att: id, addr, len: 8n, dir: "write", holder });
      }
    }
    for (const [job, j] of w.jobs.entries()) {
      if (j.att !== id) continue;
      ops.push({ kind: "dma-access", job }, { kind: "signal", job });
    }
    if (a.mapping === null && !busy && b.resvHolder === null) ops.push({ kind: "detach", att: id });
  }
  if (w.tasks.size === 0 && b.fds > 0) {
    if (b.revoked === "usable") {
      ops.push({ kind: "revoke", buf, permanent: false, by: `${EXPORTER_HOLDER} FLR` });
      ops.push({ kind: "revoke", buf, permanent: true, by: `${EXPORTER_HOLDER} close` });
    } else if (b.revoked === "temporary") {
      const region = regionOf(w, buf);
      if (region !== undefined) {
        ops.push({
          kind: "region",
          region: region.id,
          status: region.status === "live" ? "inaccessible" : "live",
          by: `${EXPORTER_HOLDER} FLR`,
        });
        if (region.status === "live")
          ops.push({ kind: "unrevoke", buf, by: `${EXPORTER_HOLDER} FLR` });
      }
      ops.push({ kind: "revoke", buf, permanent: true, by: `${EXPORTER_HOLDER} close` });
    } else {
      ops.push({ kind: "close", buf });
    }
  }
  return ops;
}

function regionOf(w: World, buf: number): { id: string; status: RegionStatus } | undefined {
  const b = w.bufs.get(buf);
  const priv = b === undefined ? undefined : refExporterPriv(b);
  for (const r of w.regions.values()) if (r.id === priv?.region) return r;
  return undefined;
}

/**
 * What a breadth-first exploration found.
 *
 * @category Exploration
 */
export interface BreadthFirstResult {
  /** Distinct canonical worlds reached (the start included). */
  readonly states: number;
  /** Successful steps tried (to new or known worlds). */
  readonly transitions: number;
  /** Worlds with at least one violation recorded. */
  readonly violations: number;
  /** The kinds of violation seen, sorted. */
  readonly kinds: readonly string[];
  /** True when the search ended by itself (false: it hit `limit`). */
  readonly complete: boolean;
}

/**
 * Breadth-first search over canonical worlds: from `w0`, every op `opsAt`
 * enables and every op the kernel owes (`pendingOps`) is stepped; worlds
 * are deduplicated by hash and `worldsEqual`. It ends because the World
 * repeats (DESIGN §2a). The plain search the explorer of issue 12 builds on.
 *
 * @param m - the machine.
 * @param w0 - the start.
 * @param opsAt - the protocol's moves enabled in a world.
 * @param limit - stop after this many distinct worlds.
 * @returns what it found.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { exploreBreadthFirst, revokeProtocolOps, revokeProtocolStart } from "@dmabuf-ref/core";
 *
 * const { m, w, buf } = revokeProtocolStart();
 * const all = exploreBreadthFirst(m, w, (x) => revokeProtocolOps(x, buf, ["dev0"]), 10_000);
 * assert.ok(all.complete); // the worlds repeat, so the search ends
 * assert.equal(all.violations, 0);
 * const cut = exploreBreadthFirst(m, w, (x) => revokeProtocolOps(x, buf, ["dev0"]), 10);
 * assert.deepEqual([cut.states, cut.complete], [10, false]);
 * ```
 *
 * @category Exploration
 */
export function exploreBreadthFirst(
  m: Machine,
  w0: World,
  opsAt: (w: World) => readonly Op[],
  limit: number,
): BreadthFirstResult {
  const seen = new Map<number, World[]>();
  const add = (w: World): boolean => {
    const h = hashWorld(w);
    const bucket = seen.get(h);
    if (bucket === undefined) {
      seen.set(h, [w]);
      return true;
    }
    if (bucket.some((x) => worldsEqual(x, w))) return false;
    bucket.push(w);
    return true;
  };
  add(w0);
  let frontier = [w0];
  let states = 1;
  let transitions = 0;
  let violations = 0;
  const kinds = new Set<string>();
  while (frontier.length > 0) {
    const next: World[] = [];
    for (const w of frontier) {
      for (const op of [...opsAt(w), ...pendingOps(m, w)]) {
        const r = step(m, w, op);
        if (r.status !== "done") continue;
        transitions++;
        if (!add(r.world)) continue;
        states++;
        if (r.world.violations.size > 0) {
          violations++;
          for (const v of r.world.violations.values()) kinds.add(v.kind);
        }
        if (states >= limit)
          return { states, transitions, violations, kinds: [...kinds].sort(), complete: false };
        next.push(r.world);
      }
    }
    frontier = next;
  }
  return { states, transitions, violations, kinds: [...kinds].sort(), complete: true };
}

/**
 * Where the reference revoke protocol starts.
 *
 * @category Exploration
 */
export interface RevokeProtocolStart {
  /** The reference machine. */
  readonly m: Machine;
  /** The world with the buffer exported. */
  readonly w: World;
  /** The buffer's id. */
  readonly buf: number;
}

/**
 * The protocol's start: the reference machine with one 8 KiB buffer of the
 * reference exporter.
 *
 * @returns the machine, the world and the buffer's id.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { revokeProtocolStart } from "@dmabuf-ref/core";
 *
 * const { m, w, buf } = revokeProtocolStart();
 * assert.equal(buf, 1);
 * assert.equal(w.bufs.get(buf)?.size, 0x2000n);
 * assert.equal(m.profile.id, "linux-7.1");
 * ```
 *
 * @category Exploration
 */
export function revokeProtocolStart(): RevokeProtocolStart {
  const m = referenceMachine();
  const r = step(m, boot(m), {
    kind: "export",
    exporter: "ref-exporter",
    owner: EXPORTER_HOLDER,
    args: { size: 0x2000 },
  });
  if (r.status !== "done" || r.created === undefined) throw new Error("export failed");
  return { m, w: r.world, buf: r.created };
}
