/**
 * The iommufd ioctl entry point (kernel-model §3.1): dispatch on the ioctl
 * number, the size / E2BIG rule, structs copied back; and, over random
 * structs, "a failed call changes nothing".
 */
import { describe, expect, it } from "vitest";
import { fc, test } from "@fast-check/vitest";
import {
  IOMMU_DESTROY,
  IOMMU_IOAS_ALLOC,
  IOMMU_IOAS_IOVA_RANGES,
  IOMMU_IOAS_MAP,
  IOMMU_IOAS_MAP_FILE,
  IOMMU_IOAS_UNMAP,
  _IO,
  iommuDestroy,
  iommuIoasAlloc,
  iommuIoasIovaRanges,
  iommuIoasMap,
  iommuIoasMapFile,
  iommuIoasUnmap,
  runScript,
  step,
} from "@dmabuf-ref/core";
import type { Machine, World } from "@dmabuf-ref/core";
import { match } from "ts-pattern";
import {
  RW,
  attachDeviceStep,
  detachDeviceStep,
  done,
  expectErrno,
  exportVfio,
  ioctl,
  mapFileOk,
  mapUserOk,
  revoke,
  vfioSetup,
} from "./fixtures.js";
import { expectDmaVerdicts, expectInvariants } from "./invariants.js";

describe("iommufdIoctl dispatch and the size rule", () => {
  const { m, world, ioas, buf } = vfioSetup();
  const mapFileBytes = (size: number, extra = 0): Uint8Array => {
    const b = new Uint8Array(Math.max(size, 40));
    b.set(
      iommuIoasMapFile.encode({
        size,
        flags: RW,
        ioas_id: ioas,
        fd: buf,
        start: 0n,
        length: 0x4000n,
        iova: 0n,
      }),
    );
    if (extra !== 0) b[b.length - 1] = extra;
    return b;
  };

  it("an unknown ioctl number is ENOTTY (IOMMU_FAULT_QUEUE_ALLOC is not modelled either)", () => {
    expectErrno(world, ioctl(m, world, _IO(0x3b, 0x8e), new Uint8Array(64)), "ENOTTY");
    expectErrno(world, ioctl(m, world, 0x1234, new Uint8Array(64)), "ENOTTY");
  });

  it("a size below the ioctl's min_size is EINVAL", () => {
    const bytes = mapFileBytes(40);
    new DataView(bytes.buffer).setUint32(0, 39, true);
    expectErrno(world, ioctl(m, world, IOMMU_IOAS_MAP_FILE, bytes), "EINVAL");
  });

  it("non-zero bytes past the kernel's struct are E2BIG", () => {
    expectErrno(world, ioctl(m, world, IOMMU_IOAS_MAP_FILE, mapFileBytes(48, 1)), "E2BIG");
  });

  it("a longer struct with a zero tail works; the response copies back min(size, sizeof) bytes", () => {
    const r = done(ioctl(m, world, IOMMU_IOAS_MAP_FILE, mapFileBytes(48)));
    expect(r.returned.out).toHaveLength(40);
    expect(iommuIoasMapFile.decode(r.returned.out).iova).not.toBe(0n);
  });

  it("every call ends with an ioctl event naming the macro and the result", () => {
    const ok = done(ioctl(m, world, IOMMU_IOAS_MAP_FILE, mapFileBytes(40)));
    expect(ok.events.at(-1)).toEqual({
      kind: "ioctl",
      process: "vmm",
      target: "iommufd",
      name: "IOMMU_IOAS_MAP_FILE",
      result: { ok: true, ret: 0 },
    });
    const bad = ioctl(m, world, IOMMU_IOAS_MAP_FILE, mapFileBytes(48, 1), "qemu");
    const events = bad.status === "failed" ? (bad.events ?? []) : [];
    expect(events.map((e) => (e.kind === "ioctl" ? [e.process, e.result.ok] : e.kind))).toEqual([
      ["qemu", false],
    ]);
  });
});

/**
 * A machine and a busy world: one IOAS with a device, a dead dma-buf area,
 * a live one of another buffer, and user memory; `bufs` are the dma-buf ids.
 */
function busyWorld(): { m: Machine; world: World; bufs: number[] } {
  const { m, world, ioas, buf } = vfioSetup();
  const a = mapFileOk(m, world, { ioas, fd: buf, length: 0x2000n });
  const dead = revoke(m, a.world, buf);
  const other = exportVfio(m, dead, {
    region: "vfio0.bar0",
    ranges: [{ offset: 0x8000n, length: 0x4000n }],
  });
  const live = mapFileOk(m, other.world, { ioas, fd: other.buf, length: 0x2000n });
  return {
    m,
    world: mapUserOk(m, live.world, { ioas, length: 0x2000n }).world,
    bufs: [buf, other.buf],
  };
}

const start = busyWorld();

/** One step of a random run. */
type Call =
  | { readonly kind: "ioctl"; readonly number: number; readonly bytes: Uint8Array }
  | { readonly kind: "revoke" | "unrevoke" | "lock" | "unlock"; readonly buf: number }
  | {
      readonly kind: "attach";
      readonly device: string;
      readonly ioas: number;
      readonly newDomain: boolean;
    }
  | { readonly kind: "detach"; readonly device: string };

/** Mostly plausible values, sometimes anything: so that many calls succeed. */
function mostly<T>(plausible: fc.Arbitrary<T>, any: fc.Arbitrary<T>): fc.Arbitrary<T> {
  return fc.oneof({ arbitrary: plausible, weight: 4 }, { arbitrary: any, weight: 1 });
}
const u64 = mostly(
  fc.constantFrom(
    0n,
    0x1000n,
    0x2000n,
    0x4000n,
    0x10_0000n,
    0x20_0000n,
    0xfee0_0000n,
    2n ** 48n,
    2n ** 64n - 1n,
  ),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
);
const u32 = mostly(fc.constantFrom(0, 1), fc.nat({ max: 0xffff_ffff }));
const flags = mostly(fc.constantFrom(RW, RW | 1, 2, 4, 1, 0, 8 | RW), fc.nat({ max: 0xffff_ffff }));
const id = mostly(fc.constant(1), fc.integer({ min: 0, max: 4 }));
const offset = mostly(fc.constantFrom(0n, 0x1000n, 0x2000n), u64);
const length = mostly(fc.constantFrom(0x1000n, 0x2000n), u64);
const fd = mostly(fc.constantFrom(...start.bufs), fc.integer({ min: -1, max: 12 }));

const ioctlCall = (number: number, bytes: Uint8Array): Call => ({ kind: "ioctl", number, bytes });
const allocCall = fc
  .record({ flags: u32, out_ioas_id: u32 })
  .map((v) => ioctlCall(IOMMU_IOAS_ALLOC, iommuIoasAlloc.encode({ size: 12, ...v })));
const destroyCall = fc
  .record({ id })
  .map((v) => ioctlCall(IOMMU_DESTROY, iommuDestroy.encode({ size: 8, ...v })));
const unmapCall = fc
  .record({ ioas_id: id, iova: u64, length })
  .map((v) => ioctlCall(IOMMU_IOAS_UNMAP, iommuIoasUnmap.encode({ size: 24, ...v })));
const mapFileCall = fc
  .record({ flags, ioas_id: id, fd, start: offset, length, iova: u64 })
  .map((v) => ioctlCall(IOMMU_IOAS_MAP_FILE, iommuIoasMapFile.encode({ size: 40, ...v })));
const mapCall = fc
  .record({ flags, ioas_id: id, __reserved: u32, user_va: offset, length, iova: u64 })
  .map((v) => ioctlCall(IOMMU_IOAS_MAP, iommuIoasMap.encode({ size: 40, ...v })));
const rangesCall = fc.record({ ioas_id: id, num_iovas: u32, __reserved: u32 }).map((v) =>
  ioctlCall(
    IOMMU_IOAS_IOVA_RANGES,
    iommuIoasIovaRanges.encode({
      size: 32,
      allowed_iovas: 0x1000n,
      out_iova_alignment: 0n,
      ...v,
    }),
  ),
);
const exporterCall = fc.record({
  kind: fc.constantFrom("revoke" as const, "unrevoke" as const, "lock" as const, "unlock" as const),
  buf: fc.constantFrom(...start.bufs),
});
const deviceCall = fc.oneof(
  fc.record({
    kind: fc.constant("attach" as const),
    device: fc.constantFrom("dev0", "dev1"),
    ioas: id,
    newDomain: fc.boolean(),
  }),
  fc.record({ kind: fc.constant("detach" as const), device: fc.constantFrom("dev0", "dev1") }),
);
const call: fc.Arbitrary<Call> = fc.oneof(
  { arbitrary: allocCall, weight: 1 },
  { arbitrary: destroyCall, weight: 1 },
  { arbitrary: unmapCall, weight: 3 },
  { arbitrary: mapFileCall, weight: 4 },
  { arbitrary: mapCall, weight: 3 },
  { arbitrary: rangesCall, weight: 1 },
  { arbitrary: exporterCall, weight: 2 },
  { arbitrary: deviceCall, weight: 2 },
);

/** Applies one call; a failure must leave the identical world. */
function apply(m: Machine, w: World, c: Call): World {
  return match(c)
    .with({ kind: "ioctl" }, (x) => {
      const r = ioctl(m, w, x.number, x.bytes);
      if (r.status !== "done") expect(r.world).toBe(w);
      return r.world;
    })
    .with({ kind: "revoke" }, { kind: "unrevoke" }, (x) => {
      const op =
        x.kind === "revoke"
          ? { kind: "revoke" as const, buf: x.buf, permanent: false, by: "FLR" }
          : { kind: "unrevoke" as const, buf: x.buf, by: "FLR done" };
      return runScript(m, w, [op], "vfio0").world;
    })
    .with({ kind: "lock" }, { kind: "unlock" }, (x) => {
      const r = step(m, w, { kind: x.kind, buf: x.buf, holder: "another importer" });
      return r.status === "done" ? r.world : w;
    })
    .with({ kind: "attach" }, (x) => {
      const r = attachDeviceStep(m, w, x.device, x.ioas, x.newDomain);
      return r.status === "done" ? r.world : w;
    })
    .with({ kind: "detach" }, (x) => {
      const r = detachDeviceStep(m, w, x.device);
      return r.status === "done" ? r.world : w;
    })
    .exhaustive();
}

describe("random ioctls, revokes and device moves (fast-check)", () => {
  test.prop([fc.array(call, { minLength: 1, maxLength: 8 })], { numRuns: 200 })(
    "a failed or sleeping call leaves the identical world; the invariants hold; DMA is ok or a fault",
    (calls) => {
      const { m } = start;
      let w = start.world;
      for (const c of calls) {
        w = apply(m, w, c);
        expectInvariants(m, w);
        expectDmaVerdicts(m, w);
      }
      expect(w.violations.size).toBe(0);
    },
  );
});
