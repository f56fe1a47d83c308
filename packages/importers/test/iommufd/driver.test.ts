/**
 * The iommufd ImporterDriver: dma_buf_attach_ops (allow_peer2peer,
 * invalidate_mappings = iopt_revoke_notify) and its `act`, which lets core
 * scripts interleave iommufd calls with revokes and device DMA.
 */
import { describe, expect, it } from "vitest";
import {
  IOMMU_IOAS_ALLOC,
  IOMMU_IOAS_MAP_FILE,
  boot,
  iommuIoasAlloc,
  iommuIoasMapFile,
  renderText,
  runScript,
  step,
} from "@dmabuf-ref/core";
import type { Op } from "@dmabuf-ref/core";
import { iommufdImporter } from "../../src/index.js";
import { RW, exportVfio, makeMachine } from "./fixtures.js";

const ioctl = (number: number, buffer: Uint8Array): Op => ({
  kind: "driver",
  driver: "iommufd",
  action: { op: "ioctl", number, buffer, process: "qemu" },
});

const allocBytes = iommuIoasAlloc.encode({ size: 12, flags: 0, out_ioas_id: 0 });
const mapBytes = (fd: number): Uint8Array =>
  iommuIoasMapFile.encode({
    size: 40,
    flags: RW,
    ioas_id: 1,
    fd,
    start: 0n,
    length: 0x4000n,
    iova: 0n,
  });

describe("iommufdImporter", () => {
  it("is named iommufd, allows P2P, has invalidate_mappings and owes no work on a fresh world", () => {
    const d = iommufdImporter();
    expect(d.name).toBe("iommufd");
    expect(d.allowPeer2peer).toBe(true);
    expect(typeof d.invalidateMappings).toBe("function");
    const m = makeMachine();
    expect(d.pending?.(m, boot(m))).toEqual([]);
  });

  it("rejects unknown options", () => {
    expect(() => iommufdImporter({ ramRegion: "" })).toThrow();
  });
});

describe("iommufd's act in a core script", () => {
  it("a VMM's map, a device's DMA, an FLR revoke and a late DMA: ok, then a fault, no violation", () => {
    const m = makeMachine();
    const e = exportVfio(m, boot(m));
    const run = runScript(
      m,
      e.world,
      [
        ioctl(IOMMU_IOAS_ALLOC, allocBytes),
        {
          kind: "driver",
          driver: "iommufd",
          action: { op: "attach-device", device: "dev1", ioas: 1 },
        },
        ioctl(IOMMU_IOAS_MAP_FILE, mapBytes(e.buf)),
        // iopt_alloc_iova aligns a 16 KiB slice at file offset 0 to 16 KiB: IOVA 0x4000.
        { kind: "dma", device: "dev1", addr: 0x4000n, len: 0x1000n, dir: "write" },
        { kind: "revoke", buf: e.buf, permanent: false, by: "FLR" },
        { kind: "dma", device: "dev1", addr: 0x4000n, len: 0x1000n, dir: "write" },
        ioctl(IOMMU_IOAS_MAP_FILE, mapBytes(e.buf)),
      ],
      "qemu",
    );
    expect(run.results.map((r) => r.status)).toEqual([
      "done",
      "done",
      "done",
      "done",
      "done",
      "done",
      "failed",
    ]);
    expect(run.results[6]?.error?.errno).toBe("ENODEV");
    const dmas = run.events.flatMap((x) => (x.kind === "dma" ? [x.outcome] : []));
    expect(dmas).toEqual(["ok", "fault"]);
    expect(run.world.violations.size).toBe(0);
    expect(renderText(run.events)).toContain("qemu -> iommufd: IOMMU_IOAS_MAP_FILE = 0");
  });

  it("a malformed action is EINVAL", () => {
    const m = makeMachine();
    const run = runScript(m, boot(m), [
      { kind: "driver", driver: "iommufd", action: { kind: "nope" } },
    ]);
    expect(run.results[0]?.error?.errno).toBe("EINVAL");
  });

  it("an ioctl that would sleep on a held resv blocks through act, changes nothing, and runs once resv is free", () => {
    const m = makeMachine();
    const e = exportVfio(m, boot(m));
    const setup = runScript(m, e.world, [
      ioctl(IOMMU_IOAS_ALLOC, allocBytes),
      { kind: "lock", buf: e.buf, holder: "another importer" },
    ]);
    const sleeping = step(m, setup.world, ioctl(IOMMU_IOAS_MAP_FILE, mapBytes(e.buf)));
    expect(sleeping.status).toBe("blocked");
    expect(sleeping.world).toBe(setup.world);
    const freed = runScript(m, setup.world, [
      { kind: "unlock", buf: e.buf, holder: "another importer" },
    ]);
    expect(step(m, freed.world, ioctl(IOMMU_IOAS_MAP_FILE, mapBytes(e.buf))).status).toBe("done");
  });
});
