import type { Encoded } from "../encoding/codecs.js";
import { sgt } from "../mapping-types/sgt.js";
import { isPayloadOf } from "../mapping-types/define.js";
import { importerHolder } from "../reference/importer.js";
import type { Op } from "../lifetime/op.js";
import type { World } from "../world/world.js";
import type { Machine } from "./machine.js";

/** The size every candidate `export` asks for: one page, which every exporter can place. */
const EXPORT_SIZE = 0x1000n;
/** Bytes per candidate device access. */
const ACCESS = 8n;

/**
 * The userspace, device and platform ops whose arguments name live objects
 * (DESIGN §2a): what could happen next besides the kernel's own
 * continuations ({@link pendingOps}). Ops that will fail with an errno are
 * included on purpose: an errno path is behaviour too. Each driver adds the
 * ops of its own entry points (`candidates`).
 *
 * Core's own ops, for every live dma-buf: attach (each importer, each
 * device and none, dynamic and static), lock and unlock by each importer's
 * holder, revoke (temporary and permanent), un-revoke, close; for every
 * attachment: detach, map and unmap (locked and `_unlocked`), pin, unpin,
 * a fenced write at its mapping's first DMA address; for every job: its
 * access and its signal; for every device: an unfenced read and write at
 * every mapped DMA address; for every region: going inaccessible and
 * coming back. Exporters with an export path get one `export` per device.
 *
 * @param m - the machine.
 * @param w - the world.
 * @returns the candidate ops, in a fixed order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, candidateOps, referenceMachine } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * // nothing exported yet: one export per device, and ram0 may go away
 * assert.deepEqual(
 *   candidateOps(m, boot(m)).map((op) => op.kind),
 *   ["export", "export", "export", "region"],
 * );
 * ```
 *
 * @category Exploration
 */
export function candidateOps(m: Machine, w: World): readonly Op[] {
  const ops: Op[] = [];
  const devices: (string | null)[] = [...m.topology.devices.map((d) => d.id), null];
  for (const exporter of m.exporters.values()) {
    if (exporter.export === undefined) continue;
    for (const d of m.topology.devices) {
      ops.push({
        kind: "export",
        exporter: exporter.name,
        owner: d.id,
        args: { size: EXPORT_SIZE },
      });
    }
  }
  const addrs = new Set<bigint>();
  for (const [buf, b] of w.bufs.entries()) {
    if (b.released) continue;
    for (const importer of m.importers.keys()) {
      for (const device of devices) {
        ops.push({ kind: "attach", buf, importer, device, dynamic: true });
        ops.push({ kind: "attach", buf, importer, device, dynamic: false });
      }
    }
    for (const att of b.attachments) {
      const a = w.atts.get(att);
      if (a === undefined) continue;
      const holder = importerHolder(a.importer, att);
      ops.push({ kind: "lock", buf, holder }, { kind: "unlock", buf, holder });
    }
    ops.push(
      { kind: "revoke", buf, permanent: false, by: "candidate" },
      { kind: "revoke", buf, permanent: true, by: "candidate" },
      { kind: "unrevoke", buf, by: "candidate" },
      { kind: "close", buf },
    );
  }
  for (const [att, a] of w.atts.entries()) {
    const holder = importerHolder(a.importer, att);
    ops.push(
      { kind: "detach", att },
      { kind: "map", att, holder },
      { kind: "map", att, holder: null },
      { kind: "unmap", att, holder },
      { kind: "unmap", att, holder: null },
      { kind: "pin", att, holder },
      { kind: "unpin", att, holder },
    );
    const addr = firstDmaAddress(a.mapping?.payload);
    if (addr !== undefined) {
      addrs.add(addr);
      ops.push({ kind: "dma-submit", att, addr, len: ACCESS, dir: "write", holder });
    }
  }
  for (const job of w.jobs.keys()) ops.push({ kind: "dma-access", job }, { kind: "signal", job });
  for (const d of m.topology.devices) {
    for (const addr of addrs) {
      ops.push(
        { kind: "dma", device: d.id, addr, len: ACCESS, dir: "read" },
        { kind: "dma", device: d.id, addr, len: ACCESS, dir: "write" },
      );
    }
  }
  for (const r of w.regions.values()) {
    if (r.status === "freed") continue;
    ops.push({
      kind: "region",
      region: r.id,
      status: r.status === "live" ? "inaccessible" : "live",
      by: "candidate",
    });
  }
  for (const driver of [...m.exporters.values(), ...m.importers.values()]) {
    ops.push(...(driver.candidates?.(m, w) ?? []));
  }
  return ops;
}

/** The first DMA address of an SGT payload (`entries[0].dmaAddress`), if it has one. */
function firstDmaAddress(payload: Encoded<unknown> | undefined): bigint | undefined {
  return isPayloadOf(sgt, payload) ? payload.value.entries[0]?.dmaAddress : undefined;
}
