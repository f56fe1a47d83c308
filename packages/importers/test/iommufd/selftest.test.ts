import {
  IOMMU_TEST_CMD,
  IOMMU_TEST_OP_DMABUF_GET,
  IOMMU_TEST_OP_DMABUF_REVOKE,
  boot,
  iommuTestCmd,
  iommuTestCmdDmabufGet,
  iommuTestCmdDmabufRevoke,
  referenceExporter,
  referenceMachine,
  runScript,
  settle,
  step,
} from "@dmabuf-ref/core";
import type { Machine, StepOutcome, World } from "@dmabuf-ref/core";
import { describe, expect, it } from "vitest";
import { iommufdImporter, iommufdSelftestMock } from "../../src/index.js";

const PAGE = 0x1000;
/** The selftest mock (core's reference exporter with the hook) beside the plain ref-exporter. */
const mock = referenceExporter({ name: "mock", region: "ram0", selftestHook: true });
const m = referenceMachine({ exporters: [mock], importers: [iommufdImporter()] });
/** No CONFIG_IOMMUFD_TEST: the reference exporter has no selftest hook. */
const plain = referenceMachine({ importers: [iommufdImporter()] });

const header = { size: 72, id: 0, __reserved: 0, last: 0 };

function ioctl(machine: Machine, w: World, buffer: Uint8Array): StepOutcome {
  const action = { op: "ioctl", number: IOMMU_TEST_CMD, buffer, process: "selftest" };
  return step(machine, w, { kind: "driver", driver: "iommufd", action });
}

function get(w: World, length: number, machine: Machine = m): StepOutcome {
  const buffer = iommuTestCmdDmabufGet.encode({
    ...header,
    op: IOMMU_TEST_OP_DMABUF_GET,
    "dmabuf_get.length": length,
    "dmabuf_get.open_flags": 0,
  });
  return ioctl(machine, w, buffer);
}

function revoke(w: World, fd: number, revoked: number): StepOutcome {
  const buffer = iommuTestCmdDmabufRevoke.encode({
    ...header,
    op: IOMMU_TEST_OP_DMABUF_REVOKE,
    "dmabuf_revoke.dmabuf_fd": fd,
    "dmabuf_revoke.revoked": revoked,
  });
  return ioctl(m, w, buffer);
}

/** The return value of a call that succeeded. */
function retOf(r: StepOutcome): number | bigint | undefined {
  return r.status === "done" ? r.returned?.ret : undefined;
}

/** The errno of a failed outcome, which must also leave the world as it was. */
function errnoOf(r: StepOutcome, w: World): string {
  if (r.status !== "failed") return r.status;
  expect(r.world).toBe(w);
  return r.error.errno;
}

/** The world after a call that succeeded, with the tasks it started run to the end. */
function after(r: StepOutcome): World {
  if (r.status !== "done") throw new Error(`expected done, got ${r.status}`);
  return settle(m, r.world).world;
}

describe("IOMMU_TEST_CMD (iommufd_test, drivers/iommu/iommufd/selftest.c)", () => {
  const w = boot(m);

  it("is ENOTTY without CONFIG_IOMMUFD_TEST (no exporter with the selftest hook)", () => {
    const p = boot(plain);
    expect(iommufdSelftestMock(plain, p)).toBeUndefined();
    expect(errnoOf(get(p, 4 * PAGE, plain), p)).toBe("ENOTTY");
  });

  it("checks the size first: below offsetofend(last) = 68 is EINVAL, a non-zero tail E2BIG", () => {
    const short = iommuTestCmd.encode({ ...header, size: 64, op: IOMMU_TEST_OP_DMABUF_GET });
    expect(errnoOf(ioctl(m, w, short), w)).toBe("EINVAL");
    const long = new Uint8Array(80);
    long.set(iommuTestCmd.encode({ ...header, size: 80, op: IOMMU_TEST_OP_DMABUF_GET }));
    long[76] = 1;
    expect(errnoOf(ioctl(m, w, long), w)).toBe("E2BIG");
  });

  it("answers EOPNOTSUPP for a test op the kernel does not have (the switch's default)", () => {
    const cmd = iommuTestCmd.encode({ ...header, op: 99 });
    expect(errnoOf(ioctl(m, w, cmd), w)).toBe("EOPNOTSUPP");
  });

  it("DMABUF_GET: a length of 0, or of more than 512 pages once rounded up, is EINVAL", () => {
    expect(errnoOf(get(w, 0), w)).toBe("EINVAL");
    expect(errnoOf(get(w, 512 * PAGE + 1), w)).toBe("EINVAL");
    expect(errnoOf(get(w, 0xffff_ffff), w)).toBe("EINVAL");
  });

  it("DMABUF_GET: exports a whole-page mock buffer and returns its fd", () => {
    const r = get(w, 512 * PAGE - 1);
    expect(r.status).toBe("done");
    expect(retOf(r)).toBe(1);
    expect(r.world.bufs.get(1)).toMatchObject({ exporter: "mock", size: 0x20_0000n, fds: 1 });
  });

  it("DMABUF_REVOKE: a bad fd is EBADF", () => {
    expect(errnoOf(revoke(w, 7, 1), w)).toBe("EBADF");
    expect(errnoOf(revoke(w, -1, 1), w)).toBe("EBADF");
  });

  it("DMABUF_REVOKE: a dma-buf that is not the mock's is EOPNOTSUPP", () => {
    const { world } = runScript(m, w, [
      { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000 } },
    ]);
    expect(errnoOf(revoke(world, 1, 1), world)).toBe("EOPNOTSUPP");
  });

  it("DMABUF_REVOKE: revokes and un-revokes through core's tasks, returning 0 when they are done", () => {
    const made = after(get(w, 4 * PAGE));
    const r = revoke(made, 1, 1);
    expect(retOf(r)).toBe(0);
    expect(r.status === "done" ? r.world.tasks.size : 0).toBe(1); // the call waits for it
    const revoked = after(r);
    expect(revoked.bufs.get(1)?.revoked).toBe("temporary");
    // Asking for the state the buffer is in only notifies the importers.
    const again = revoke(revoked, 1, 5);
    expect(again.status).toBe("done");
    expect(after(again).bufs.get(1)?.revoked).toBe("temporary");
    const back = after(revoke(revoked, 1, 0));
    expect(back.bufs.get(1)?.revoked).toBe("usable");
    expect(back.tasks.size).toBe(0);
  });

  it("DMABUF_REVOKE: sleeps while someone else holds the buffer's resv", () => {
    const made = after(get(w, 4 * PAGE));
    const locked = runScript(m, made, [{ kind: "lock", buf: 1, holder: "other" }]).world;
    expect(revoke(locked, 1, 1).status).toBe("blocked");
  });
});
