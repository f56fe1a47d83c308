import {
  IOMMU_IOAS_ALLOC,
  IOMMU_IOAS_MAP_FILE,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  VFIO_DEVICE_FEATURE_GET,
  encodeDmaBufFeature,
  iommuIoasAlloc,
  iommuIoasMapFile,
  mustBuf,
  step,
} from "@dmabuf-ref/core";
import type { Errno, KernelError, Machine, Profile, StepOutcome, World } from "@dmabuf-ref/core";
import { O_RDWR } from "@dmabuf-ref/exporters";
import { iommufdImportCapability } from "@dmabuf-ref/importers";
import type { ImportStage } from "@dmabuf-ref/importers";
import { match } from "ts-pattern";
import type { MatrixStage } from "./cell.js";

/** A successful export: the world and the new dma-buf. */
export type Exported = { readonly ok: true; readonly world: World; readonly buf: number } | Refused;

/** A successful import: the world and the attachment that carries it. */
export type Imported = { readonly ok: true; readonly world: World; readonly att: number } | Refused;

/** A refusal: the errno, why, and where. */
export interface Refused {
  /** Discriminant. */
  readonly ok: false;
  /** The errno. */
  readonly errno: Errno;
  /** Why, in one line. */
  readonly reason: string;
  /** The stage that refused. */
  readonly stage: MatrixStage;
}

/** How the matrix exports a buffer from one exporter driver. */
export interface ExporterRecipe {
  /** The driver's name (a matrix row). */
  readonly name: string;
  /** The exporter may move the memory (TTM eviction), so a revocable importer is movable. */
  readonly moves: boolean;
  /**
   * Exports one buffer.
   *
   * @param m - the matrix machine.
   * @param w - the machine's world.
   */
  export(m: Machine, w: World): Exported;
}

/** How the matrix imports a buffer with one importer driver. */
export interface ImporterRecipe {
  /** The driver's name (a matrix column). */
  readonly name: string;
  /**
   * Why the driver does not exist under a profile, or undefined when it does.
   *
   * @param profile - the profile.
   */
  absentReason(profile: Profile): string | undefined;
  /**
   * Imports a buffer: attach, pin where the importer pins, first map.
   *
   * @param m - the matrix machine.
   * @param w - the world with the buffer.
   * @param buf - the dma-buf.
   */
  import(m: Machine, w: World, buf: number): Imported;
}

/**
 * A refusal from a kernel error and the stage that returned it.
 *
 * @param error - the errno and sentence.
 * @param stage - the refusing stage.
 * @returns the refusal.
 */
export function refused(error: KernelError, stage: MatrixStage): Refused {
  return { ok: false, errno: error.errno, reason: error.message, stage };
}

/** vfio-pci: `VFIO_DEVICE_FEATURE_DMA_BUF` of 2 MiB of vfio0's BAR0. */
export const vfioRecipe: ExporterRecipe = {
  name: "vfio-pci",
  moves: false,
  export(m, w) {
    const argp = encodeDmaBufFeature({
      flags: VFIO_DEVICE_FEATURE_GET,
      data: { region_index: 0, open_flags: O_RDWR, flags: 0 },
      ranges: [{ offset: 0n, length: 0x20_0000n }],
    });
    const action = { op: "VFIO_DEVICE_FEATURE", device: "vfio0", argp, process: "matrix" };
    const r = step(m, w, { kind: "driver", driver: "vfio-pci", action });
    return match(r)
      .returnType<Exported>()
      .with({ status: "done" }, (x) => ({ ok: true, world: x.world, buf: x.returned?.ret ?? -1 }))
      .with({ status: "failed" }, (x) => refused(x.error, "import"))
      .with({ status: "blocked" }, () => {
        throw new Error("vfio export blocked on an idle machine");
      })
      .exhaustive();
  },
};

const CAPABILITY_STAGE: Readonly<Record<ImportStage, MatrixStage>> = {
  fd: "import",
  negotiation: "negotiation",
  "exporter-attach": "exporter attach",
  pin: "dma_buf_pin",
  "private-phys": "private phys lookup",
  "pal-map": "first map",
};

/**
 * iommufd: `IOMMU_IOAS_ALLOC`, then `IOMMU_IOAS_MAP_FILE` of the whole
 * buffer; the errno and reason are MAP_FILE's, the stage is the one the
 * import capability query names for the same world (it runs iommufd's own
 * import path, so the two agree; a disagreement is a model bug).
 */
export const iommufdRecipe: ImporterRecipe = {
  name: "iommufd",
  absentReason: () => undefined,
  import(m, w, buf) {
    const cap = iommufdImportCapability(m, w, buf);
    const alloc = iommufdIoctl(
      m,
      w,
      IOMMU_IOAS_ALLOC,
      iommuIoasAlloc.encode({ size: 12, flags: 0, out_ioas_id: 0 }),
    );
    if (alloc.status !== "done" || alloc.returned?.out === undefined)
      throw new Error("IOAS_ALLOC failed on an idle machine");
    const ioas = iommuIoasAlloc.decode(alloc.returned.out).out_ioas_id;
    const size = mustBuf(w, buf).size;
    const map = iommufdIoctl(
      m,
      alloc.world,
      IOMMU_IOAS_MAP_FILE,
      iommuIoasMapFile.encode({
        size: 40,
        flags: IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE,
        ioas_id: ioas,
        fd: buf,
        start: 0n,
        length: size,
        iova: 0n,
      }),
    );
    if (map.status === "blocked") throw new Error("MAP_FILE blocked on an idle machine");
    if (map.status === "failed") {
      if (cap.importable)
        throw new Error(`capability said importable, MAP_FILE said ${map.error.errno}`);
      return refused(map.error, cap.stage === "ready" ? "import" : CAPABILITY_STAGE[cap.stage]);
    }
    if (!cap.importable) throw new Error(`capability said ${cap.reason}, MAP_FILE succeeded`);
    const att = mustBuf(map.world, buf).attachments.find(
      (a) => map.world.atts.get(a)?.importer === "iommufd",
    );
    if (att === undefined) throw new Error("MAP_FILE left no iommufd attachment");
    return { ok: true, world: map.world, att };
  },
};

/** An iommufd ioctl as the matrix's VMM issues it: an op of `step`. */
function iommufdIoctl(m: Machine, w: World, number: number, buffer: Uint8Array): StepOutcome {
  const action = { op: "ioctl", number, buffer };
  return step(m, w, { kind: "driver", driver: "iommufd", action });
}

/**
 * Exports through core's `export` op, the path every non-VFIO exporter here
 * (and every `--load` plugin's matrix row) takes.
 *
 * @param m - the matrix machine.
 * @param w - its world.
 * @param exporter - the exporter driver's name.
 * @param owner - the exporting device or instance.
 * @param args - the driver's export arguments.
 * @returns the new buffer, or the refusal (stage "import").
 */
export function exportOp(
  m: Machine,
  w: World,
  exporter: string,
  owner: string,
  args: unknown,
): Exported {
  const r = step(m, w, { kind: "export", exporter, owner, args });
  if (r.status === "done" && r.created !== undefined)
    return { ok: true, world: r.world, buf: r.created };
  if (r.status === "failed") return refused(r.error, "import");
  throw new Error(`${exporter} export did not run on an idle machine`);
}

/** gpu: a 2 MiB buffer object in VRAM. */
export const gpuRecipe: ExporterRecipe = {
  name: "gpu",
  moves: true,
  export: (m, w) => exportOp(m, w, "gpu", "gpu0", { size: 0x20_0000n, placement: "vram" }),
};

/** rdma: a 1 MiB uverbs DMABUF object over nic0's BAR. */
export const rdmaRecipe: ExporterRecipe = {
  name: "rdma",
  moves: false,
  export: (m, w) => exportOp(m, w, "rdma", "nic0", { size: 0x10_0000n, offset: 0n }),
};
