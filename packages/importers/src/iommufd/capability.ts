import {
  bufWith,
  failed,
  formatKernelError,
  isKernelError,
  kernelError,
  returned,
  worldWith,
} from "@dmabuf-ref/core";
import type { Errno, Machine, PairReport, StepOutcome, TraceEvent, World } from "@dmabuf-ref/core";
import { match } from "ts-pattern";
import { dmaBufGet } from "@dmabuf-ref/core";
import { importDmabuf } from "./pages-dmabuf.js";
import type { ImportStage } from "./pages-dmabuf.js";

/**
 * The answer of {@link iommufdImportCapability} for one dma-buf source.
 *
 * @remarks
 * PROPOSAL: the kernel has no such uAPI. This is what a query could tell a
 * management tool *before* it tries `IOMMU_IOAS_MAP_FILE` (seed 000, Alex
 * Williamson: "is there any visibility to userspace whether IOMMUFD supports
 * this feature or is it simply a try and fail approach?").
 * @category uAPI
 */
export interface ImportCapability {
  /** Always true: no kernel exposes this; it is a proposal of the model. */
  readonly proposal: true;
  /** The dma-buf id. */
  readonly buf: number;
  /** The exporting device or instance, when the buffer exists. */
  readonly owner?: string;
  /** The active profile's id. */
  readonly profile: string;
  /** Whether `IOMMU_IOAS_MAP_FILE` of the whole buffer would import it now. */
  readonly importable: boolean;
  /** The mapping type the attach would get (the importer-side type). */
  readonly type?: string;
  /** The converter core would insert, if any. */
  readonly converter?: string;
  /** `ready` when importable; otherwise the stage that refuses. */
  readonly stage: ImportStage | "ready";
  /** The errno the refusing stage returns. */
  readonly errno?: Errno;
  /** Why, in one sentence a maintainer would write. */
  readonly reason: string;
  /** Every (offer, accept) pair the negotiation looked at and its outcome. */
  readonly pairs: readonly PairReport[];
}

function stageSentence(stage: ImportStage): string {
  return match(stage)
    .with("fd", () => "not a live dma-buf fd")
    .with("negotiation", () => "no mapping type matches (dma_buf_mapping_attach)")
    .with("exporter-attach", () => "the exporter's attach refuses iommufd")
    .with("pin", () => "dma_buf_pin() refuses (iommufd pins under this profile)")
    .with(
      "private-phys",
      () => "the private VFIO->iommufd interconnect (vfio_pci_dma_buf_iommufd_map) refuses",
    )
    .with("pal-map", () => "the exporter's physical address list (dma_buf_pal_map_phys) fails")
    .exhaustive();
}

/**
 * PROPOSAL (no such kernel uAPI): whether iommufd can import a dma-buf
 * under the active profile, and if not which stage refuses and why,
 * computed without changing the world (seed 000's question; DESIGN §3.2).
 *
 * It runs iommufd's own import path (kernel-model §3.3: negotiation where
 * the profile has it, the exporter's attach, `dma_buf_pin()` where iommufd
 * pins, the private interconnect or the PAL map) on the given world and
 * throws the result away, so the answer always agrees with what
 * `IOMMU_IOAS_MAP_FILE` of the whole buffer would do. A reservation lock
 * held right now is ignored: the question is about capability, not about
 * whether the call would sleep.
 *
 * @param m - the machine.
 * @param world - the world (not changed).
 * @param buf - the dma-buf id (the fd a tool would pass).
 * @returns the answer.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, referenceMachine, step } from "@dmabuf-ref/core";
 * import { iommufdImportCapability, iommufdImporter } from "@dmabuf-ref/importers";
 *
 * // linux-7.1: iommufd imports only what answers the private VFIO->iommufd phys lookup.
 * const m = referenceMachine({ importers: [iommufdImporter()] });
 * const args = { size: 0x4000n };
 * const e = step(m, boot(m), { kind: "export", exporter: "ref-exporter", owner: "gpu", args });
 * assert.ok(e.status === "done" && e.created !== undefined);
 * const cap = iommufdImportCapability(m, e.world, e.created);
 * assert.deepEqual([cap.importable, cap.stage, cap.errno], [false, "private-phys", "EOPNOTSUPP"]);
 * ```
 * @category uAPI
 */
export function iommufdImportCapability(m: Machine, world: World, buf: number): ImportCapability {
  const profile = m.profile.id;
  const b = dmaBufGet(world, buf);
  if (isKernelError(b)) {
    return {
      proposal: true,
      buf,
      profile,
      importable: false,
      stage: "fd",
      errno: b.errno,
      reason: `${stageSentence("fd")}: ${formatKernelError(b)}`,
      pairs: [],
    };
  }
  const probe: World =
    b.resvHolder === null
      ? world
      : worldWith(world, { bufs: world.bufs.set(buf, bufWith(b, { resvHolder: null })) });
  const r = importDmabuf(m, probe, buf);
  const base = { proposal: true as const, buf, owner: b.owner, profile };
  return match(r)
    .returnType<ImportCapability>()
    .with({ status: "done" }, (d) => {
      const a = d.world.atts.get(d.att);
      const type = a?.mapType ?? "";
      const converter = a?.converter ?? null;
      return {
        ...base,
        importable: true,
        type,
        ...(converter === null ? {} : { converter }),
        stage: "ready",
        reason: `importable via ${type}${converter === null ? "" : ` (${converter})`}`,
        pairs: d.pairs,
      };
    })
    .with({ status: "failed" }, (f) => ({
      ...base,
      importable: false,
      stage: f.stage,
      errno: f.error.errno,
      reason: `${stageSentence(f.stage)}: ${formatKernelError(f.error)}`,
      pairs: f.pairs,
    }))
    .with({ status: "blocked" }, () => {
      throw new Error("iommufd: the capability probe slept although resv was made free");
    })
    .exhaustive();
}

/**
 * PROPOSAL (no such kernel uAPI): {@link iommufdImportCapability} for every
 * live dma-buf of the world, by increasing id.
 *
 * @param m - the machine.
 * @param world - the world (not changed).
 * @returns one answer per live buffer.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, referenceExporter, referenceMachine, runScript } from "@dmabuf-ref/core";
 * import { iommufdImportCapabilities, iommufdImporter } from "@dmabuf-ref/importers";
 *
 * // iommufd's selftest mock ("mock") answers the private phys lookup; ref-exporter does not.
 * const mock = referenceExporter({ name: "mock", region: "ram0", selftestHook: true });
 * const m = referenceMachine({ exporters: [mock], importers: [iommufdImporter()] });
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "mock", owner: "gpu", args: { size: 0x4000n } },
 *   { kind: "export", exporter: "ref-exporter", owner: "nic", args: { size: 0x1000n } },
 * ]);
 * const caps = iommufdImportCapabilities(m, world).map((c) => [c.owner, c.stage, c.errno]);
 * assert.deepEqual(caps, [["gpu", "ready", undefined], ["nic", "private-phys", "EOPNOTSUPP"]]);
 * ```
 * @category uAPI
 */
export function iommufdImportCapabilities(m: Machine, world: World): readonly ImportCapability[] {
  const out: ImportCapability[] = [];
  for (const [id, b] of world.bufs.entries()) {
    if (!b.released) out.push(iommufdImportCapability(m, world, id));
  }
  return out;
}

/**
 * PROPOSAL (no such kernel uAPI): the visibility query as a call a process
 * makes (iommufd's `import-capability` op), so a scenario can set its
 * answer beside what `IOMMU_IOAS_MAP_FILE` then does. It returns 0 when
 * {@link iommufdImportCapability} says the buffer is importable, and
 * otherwise fails with the errno the refusing stage would return (the one
 * MAP_FILE of the whole buffer gets), with that stage's reason. It changes
 * nothing and never sleeps (a resv held right now is ignored, as the query
 * ignores it).
 *
 * @param m - the machine.
 * @param world - the world (returned as is).
 * @param buf - the dma-buf id (the fd a tool would pass).
 * @param process - the caller, as traces name it.
 * @returns done with `returned.ret` 0, or failed with the predicted errno; a
 *   note with the answer either way.
 */
export function iommufdImportCapabilityCall(
  m: Machine,
  world: World,
  buf: number,
  process = "vmm",
): StepOutcome {
  const c = iommufdImportCapability(m, world, buf);
  const who = `buf ${buf}${c.owner === undefined ? "" : ` (${c.owner})`}`;
  const answer: TraceEvent = {
    kind: "note",
    actor: "iommufd",
    text: `PROPOSAL import-capability for ${process}: ${who}: ${
      c.importable ? c.reason : `NOT importable at ${c.stage}: ${c.reason}`
    }`,
  };
  if (c.importable) return returned(world, [answer], { ret: 0 });
  const errno = c.errno ?? "EINVAL";
  return failed(
    world,
    kernelError(errno, () => `predicted at ${c.stage}: ${c.reason}`),
    [answer],
  );
}
