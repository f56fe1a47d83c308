/*
 * A UALink-attached NIC (or accelerator) importing dma-bufs, written
 * against `@dmabuf-ref/core`'s public API only: a dynamic, revocable
 * importer whose device DMA goes through the fabric addresses of a
 * `ualink` mapping (or the DMA addresses of an SGT over its PCIe side),
 * as fenced jobs core's oracle judges.
 */
import {
  CORRECT_SUBMIT,
  accept,
  arrayCodec,
  defineDriver,
  defineSlice,
  done,
  failed,
  firstDmaAddress,
  isPayloadOf,
  kernelError,
  owedUnmaps,
  readSlice,
  releaseOp,
  sgt,
  stringCodec,
  submitOp,
  writeSlice,
} from "@dmabuf-ref/core";
import type {
  ImporterAccept,
  ImporterDriver,
  Machine,
  MappingState,
  Op,
  StepOutcome,
  World,
} from "@dmabuf-ref/core";
import * as z from "zod";
import { FABRIC, FAR_NIC, NIC, OTHER_FABRIC } from "./hardware.js";
import { UALINK_IMPORTER } from "./profile.js";
import { ualink } from "./ualink-type.js";

/**
 * The importer's own entry points, one variant per op (`{ op, ...fields }`):
 * - `link`: a port's link goes down or comes back up (training, cable).
 *
 * Its job submission and teardown are core's dynamic-importer ops
 * (`submitOp`, the NIC's send or RDMA-write doorbell reduced to its
 * dma-buf part, at the first fabric address of a `ualink` mapping;
 * `releaseOp`).
 */
export const ualinkImporterActionSchema = z.discriminatedUnion("op", [
  z.strictObject({
    op: z.literal("link"),
    /** The UALink port. */
    port: z.string().min(1),
    /** Up (trained) or down. */
    up: z.boolean(),
  }),
]);

/** One validated action of the importer (see {@link ualinkImporterActionSchema}). */
export type UalinkImporterAction = z.output<typeof ualinkImporterActionSchema>;

/** The kernel path or hardware event each op models. */
const OP_MODELS = {
  link: "a UALink port's link going down or coming back (link training, a pulled cable)",
} as const;

/** The ports whose link is down, sorted (absent from the world while every link is up). */
const portsDownSlice = defineSlice<readonly string[]>(
  "ualink-ports-down",
  arrayCodec(stringCodec),
  [],
);

/** How the importer is set up: its name and which fabric each of its ports is cabled to. */
export interface UalinkImporterOptions {
  /** The driver's name (default `ualink-importer`). */
  readonly name?: string;
  /**
   * Its UALink ports and the fabric each is cabled to (default `unic0` on
   * `ual0`, `unic1` on `ual1`). Any other device attaches over PCIe only.
   */
  readonly ports?: Readonly<Record<string, string>>;
}

/**
 * The UALink importer (`struct dma_buf_attach_ops` of a UALink NIC
 * driver): attaches dynamically with `allow_peer2peer`, accepts
 * `[ualink, sgt]` (fabric addresses through a UALink port; an SGT over
 * the device's PCIe side for memory not on its fabric), and on
 * `invalidate_mappings` stops starting DMA and owes an unmap it performs
 * on its own as soon as resv is free (core's `owedUnmaps`, as the
 * reference importer). Its next job after an invalidate maps again.
 *
 * @param opts - its name and ports.
 * @returns the importer driver.
 */
export function ualinkImporter(opts: UalinkImporterOptions = {}): ImporterDriver {
  const name = opts.name ?? UALINK_IMPORTER;
  const ports = opts.ports ?? { [NIC]: FABRIC, [FAR_NIC]: OTHER_FABRIC };
  const fabricOf = (device: string | null): string | undefined =>
    device === null ? undefined : ports[device];

  return defineDriver({
    role: "importer",
    name,
    slices: { portsDown: portsDownSlice },
    actions: {
      schema: ualinkImporterActionSchema,
      models: OP_MODELS,
      // One action of its own (`link`); submit and release are core's ops.
      run: (m, w, action, self) => link(m, w, ports, action.port, action.up, self),
    },
    ops: [submitOp(CORRECT_SUBMIT, ualinkJobAddress), releaseOp()],
    callbacks: {
      allowPeer2peer: true,
      accepts(m, w, req): readonly ImporterAccept[] {
        const fabric = fabricOf(req.device);
        const pcie = accept(sgt, { device: req.device, acceptsP2P: req.peer2peer }, name);
        if (fabric === undefined || req.device === null) return [pcie];
        const down = readSlice(m, w, name, portsDownSlice).includes(req.device);
        return [accept(ualink, { port: req.device, fabric, linkUp: !down }, name), pcie];
      },
      // Core marked the mapping invalidated: the importer starts no new DMA
      // through it and owes the unmap (its `pending` work below).
      invalidateMappings: (_m, world) => ({ world, events: [] }),
      pending: (_m, w) => owedUnmaps(w, name),
      candidates: (_m, w) => {
        const ops: Op[] = [];
        for (const [att, a] of w.atts.entries()) {
          if (a.importer !== name) continue;
          for (const dir of ["read", "write"] as const)
            ops.push({ kind: "driver", driver: name, action: { op: "submit", att, len: 8n, dir } });
          ops.push({ kind: "driver", driver: name, action: { op: "release", att } });
        }
        return ops;
      },
    },
  });
}

/**
 * The address a job through a mapping issues: a `ualink` mapping's first
 * fabric address, else core's (`firstDmaAddress`, for the PCIe side's SGT).
 *
 * @param mapping - the attachment's mapping.
 * @returns the address, or undefined.
 */
export function ualinkJobAddress(mapping: MappingState): bigint | undefined {
  const payload = mapping.payload;
  return isPayloadOf(ualink, payload)
    ? payload.value.ranges[0]?.fabricAddr
    : firstDmaAddress(mapping);
}

/** The `link` op: records a port's link state, which the next attach's accept states. */
function link(
  m: Machine,
  w: World,
  ports: Readonly<Record<string, string>>,
  port: string,
  up: boolean,
  self: string,
): StepOutcome {
  if (ports[port] === undefined)
    return failed(
      w,
      kernelError("ENODEV", () => `${port} is not a UALink port of ${self}`),
    );
  const down = readSlice(m, w, self, portsDownSlice);
  const next = up ? down.filter((p) => p !== port) : [...new Set([...down, port])].sort();
  return done(writeSlice(m, w, self, portsDownSlice, next), [
    { kind: "note", actor: port, text: `UALink port ${port} link ${up ? "up" : "down"}` },
  ]);
}
