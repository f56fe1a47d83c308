/*
 * selftest.c: iommufd's selftest command `IOMMU_TEST_CMD` (`iommufd_test`),
 * which the kernel has only under CONFIG_IOMMUFD_TEST. The model answers its
 * two dma-buf ops (kernel-model §3.6), `IOMMU_TEST_OP_DMABUF_GET` and
 * `IOMMU_TEST_OP_DMABUF_REVOKE`, on the selftest's mock exporter: core's
 * reference exporter with the selftest hook (iommufd's private phys lookup);
 * and the two ops the `iommufd_ioas` fixture and its reserved-IOVA tests
 * issue with no mock domain: `IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT` and
 * `IOMMU_TEST_OP_ADD_RESERVED`. Every other test op (mock domains, access
 * objects, the MD_CHECK_* checks) is EOPNOTSUPP here, which the kernel
 * would not answer: a transcription that needs one cannot be replayed yet.
 */
import {
  IOMMU_TEST_OP_ADD_RESERVED,
  IOMMU_TEST_OP_DMABUF_GET,
  IOMMU_TEST_OP_DMABUF_REVOKE,
  IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT,
  copyIommufdStruct,
  dmaBufGet,
  failed,
  findUapiIoctl,
  invalidateMappings,
  iommuTestCmd,
  iommuTestCmdAddReserved,
  iommuTestCmdDmabufGet,
  iommuTestCmdDmabufRevoke,
  iommuTestCmdMemoryLimit,
  isKernelError,
  kernelError,
  memfdPages,
  refExporterPriv,
  returned,
  step,
  vfioIommufdMapSymbol,
} from "@dmabuf-ref/core";
import type {
  ExporterDriver,
  KernelError,
  Machine,
  StepOutcome,
  TraceEvent,
  World,
} from "@dmabuf-ref/core";
import { withFields } from "@dmabuf-ref/core/encoding";
import { IOMMUFD, PAGE_SIZE, ULONG_MAX } from "./constants.js";
import { checkReservable } from "./io_pagetable-iova.js";
import { findIoas, putIoas } from "./objects.js";

const NAME = "IOMMU_TEST_CMD";
/** The most pages a mock dma-buf may have. */
const MOCK_MAX_PAGES = 512n;
/** The owner the mock's buffers are exported under (their regions are `mock.buf<N>`). */
const MOCK_OWNER = "mock";

function ioctlEvent(process: string, result: { ok: true; ret: number } | KernelError): TraceEvent {
  return {
    kind: "ioctl",
    process,
    target: IOMMUFD,
    name: NAME,
    result: "errno" in result ? { ok: false, error: result } : result,
  };
}

function refuse(world: World, process: string, error: KernelError): StepOutcome {
  return failed(world, error, [ioctlEvent(process, error)]);
}

/**
 * The machine's iommufd selftest mock exporter, if the kernel has
 * CONFIG_IOMMUFD_TEST: an exporter that answers iommufd's private phys
 * lookup (`vfio_pci_dma_buf_iommufd_map`, which the mock provides under that
 * option) and whose buffers are core's reference exporter's kernel memory
 * (recognised by their priv, {@link refExporterPriv}; found by a one-page
 * export on a copy of the world, which is never kept). VFIO provides the
 * symbol too, but its buffers are BAR slices.
 *
 * @param m - the machine.
 * @param w - the world.
 * @returns the mock's driver, or undefined (no CONFIG_IOMMUFD_TEST).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, referenceExporter, referenceMachine } from "@dmabuf-ref/core";
 * import { iommufdImporter, iommufdSelftestMock } from "@dmabuf-ref/importers";
 *
 * const mock = referenceExporter({ name: "mock", region: "ram0", selftestHook: true });
 * const m = referenceMachine({ exporters: [mock], importers: [iommufdImporter()] });
 * assert.equal(iommufdSelftestMock(m, boot(m))?.name, "mock");
 * // The default reference exporter has no selftest hook: no CONFIG_IOMMUFD_TEST.
 * const plain = referenceMachine({ importers: [iommufdImporter()] });
 * assert.equal(iommufdSelftestMock(plain, boot(plain)), undefined);
 * ```
 * @kernel drivers/iommu/iommufd/selftest.c iommufd_test_dma_buf_iommufd_map
 * @category Drivers
 */
export function iommufdSelftestMock(m: Machine, w: World): ExporterDriver | undefined {
  for (const d of m.exporters.values()) {
    if (d.export === undefined) continue;
    if (!(d.symbols ?? []).some((s) => s.name === vfioIommufdMapSymbol.name)) continue;
    const probe = d.export(m, w, MOCK_OWNER, { size: PAGE_SIZE });
    if (!probe.ok) continue;
    const b = probe.value.world.bufs.get(probe.value.buf);
    if (b !== undefined && refExporterPriv(b) !== undefined) return d;
  }
  return undefined;
}

/**
 * `IOMMU_TEST_OP_DMABUF_GET`: the length is rounded up to whole pages;
 * 0 or more than 512 pages is `EINVAL`; then the mock exports a
 * kernel-memory buffer of that size (core's export path: `ENOMEM` when its
 * RAM region is full) and the new fd is the ioctl's return value.
 * `open_flags` are the file's flags (`O_CLOEXEC` matters to the fd table
 * only, which the model does not keep).
 */
function dmabufGet(
  m: Machine,
  w: World,
  mock: ExporterDriver,
  length: number,
  process: string,
): StepOutcome {
  const len = ((BigInt(length) + PAGE_SIZE - 1n) / PAGE_SIZE) * PAGE_SIZE;
  if (len === 0n || len > MOCK_MAX_PAGES * PAGE_SIZE) {
    return refuse(
      w,
      process,
      kernelError("EINVAL", () => `length ${length} is not 1 to 512 pages`),
    );
  }
  const r = step(m, w, {
    kind: "export",
    exporter: mock.name,
    owner: MOCK_OWNER,
    args: { size: len },
  });
  if (r.status === "failed") return refuse(w, process, r.error);
  if (r.status !== "done" || r.created === undefined) {
    throw new Error(`iommufd selftest: the mock's export neither failed nor created a buffer`);
  }
  const fd = r.created;
  return {
    status: "done",
    world: r.world,
    events: [...r.events, ioctlEvent(process, { ok: true, ret: fd })],
    returned: { ret: fd },
    created: fd,
  };
}

/**
 * `IOMMU_TEST_OP_DMABUF_REVOKE`: `dma_buf_get(fd)` (an fd that is not open
 * is `EBADF`, an open memfd is no dma-buf: `EINVAL`); a dma-buf not the
 * mock's is `EOPNOTSUPP`; then, under the buffer's resv, the mock's
 * `revoked` is set (`revoked` non-zero) or cleared and the importers are
 * notified. Here a usable buffer is revoked and a revoked one un-revoked by
 * core's revoke and un-revoke tasks (temporary: the selftest can undo it),
 * which the call waits for, as VFIO's reset does; a request for the state
 * the buffer is already in only notifies the importers under resv (the
 * kernel's `dma_buf_move_notify` with nothing changed: iommufd still
 * revokes live areas). A resv held by someone else, or a revoke task in
 * progress, makes the call sleep.
 */
function dmabufRevoke(
  m: Machine,
  w: World,
  mock: ExporterDriver,
  fd: number,
  revoked: boolean,
  process: string,
): StepOutcome {
  const b = dmaBufGet(w, fd);
  if (isKernelError(b)) {
    const memfd = fd >= 0 && memfdPages(m, w, fd, 0n, 0n) !== undefined;
    return refuse(
      w,
      process,
      memfd ? kernelError("EINVAL", () => `fd ${fd} is a memfd, not a dma-buf`) : b,
    );
  }
  if (b.exporter !== mock.name) {
    return refuse(
      w,
      process,
      kernelError("EOPNOTSUPP", () => `dma-buf ${fd} is ${b.exporter}'s, not the selftest mock's`),
    );
  }
  if (b.resvHolder !== null || b.task !== null) {
    const why =
      b.resvHolder !== null
        ? `held by ${b.resvHolder}`
        : `taken by the revoke task ${String(b.task)}`;
    return {
      status: "blocked",
      reason: `resv of dma-buf ${fd} is ${why}`,
      waitFor: "resv",
      outstanding: 0,
      world: w,
    };
  }
  const by = "IOMMU_TEST_OP_DMABUF_REVOKE";
  const note: TraceEvent = {
    kind: "note",
    actor: IOMMUFD,
    text: `selftest: mock dma-buf ${fd} revoked = ${revoked ? 1 : 0}`,
  };
  const change =
    revoked && b.revoked === "usable"
      ? step(m, w, { kind: "revoke", buf: fd, permanent: false, by })
      : !revoked && b.revoked === "temporary"
        ? step(m, w, { kind: "unrevoke", buf: fd, by })
        : undefined;
  if (change !== undefined) {
    if (change.status === "failed") return refuse(w, process, change.error);
    if (change.status === "blocked") return change;
    // No ioctl event yet: the call returns 0 once the task is gone.
    return withFields(change, { events: [note, ...change.events], returned: { ret: 0 } });
  }
  if (!revoked && b.revoked === "permanent") {
    // The model cannot bring back a buffer revoked for good (its close path).
    return refuse(
      w,
      process,
      kernelError("ENODEV", () => `dma-buf ${fd} is revoked for good`),
    );
  }
  const holder = `${IOMMUFD}#${by}`;
  const locked = step(m, w, { kind: "lock", buf: fd, holder });
  if (locked.status !== "done") throw new Error(`iommufd selftest: resv of ${fd} was free`);
  const notified = invalidateMappings(m, locked.world, fd, holder);
  const unlocked = step(m, notified.world, { kind: "unlock", buf: fd, holder });
  if (unlocked.status !== "done") throw new Error(`iommufd selftest: resv of ${fd} was not held`);
  return returned(
    unlocked.world,
    [
      note,
      ...locked.events,
      ...notified.events,
      ...unlocked.events,
      ioctlEvent(process, { ok: true, ret: 0 }),
    ],
    { ret: 0 },
  );
}

/**
 * The least `memory_limit.limit` `IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT`
 * takes: one batch element (`sizeof(unsigned long) + sizeof(u32)`), below
 * which `batch_init` could not make progress.
 */
const MIN_TEMP_MEMORY_LIMIT = 12;

/**
 * `IOMMU_TEST_OP_ADD_RESERVED` (`iommufd_test_add_reserved`): a length of 0
 * is `EINVAL` and `start + length - 1` past `ULONG_MAX` is `EOVERFLOW`
 * (both checked first, since the fix for a syzbot report of December
 * 2025); `cmd->id` not an IOAS is `ENOENT`; then `iopt_reserve_iova` with no
 * owner: a range that meets an area or an allowed range is `EADDRINUSE`
 * (reserved ranges may overlap each other). The range then binds
 * `IOMMU_IOAS_IOVA_RANGES`, automatic IOVA placement, `IOMMU_IOAS_ALLOW_IOVAS`
 * and fixed-IOVA maps like a device's reserved region, until the IOAS is
 * destroyed. Nothing is copied back.
 */
function addReserved(
  m: Machine,
  w: World,
  ioasId: number,
  start: bigint,
  length: bigint,
  process: string,
): StepOutcome {
  if (length === 0n) return refuse(w, process, kernelError("EINVAL", "length is 0"));
  const last = start + length - 1n;
  if (last > ULONG_MAX) {
    return refuse(
      w,
      process,
      kernelError(
        "EOVERFLOW",
        () => `0x${start.toString(16)} + 0x${length.toString(16)} - 1 overflows`,
      ),
    );
  }
  const ioas = findIoas(m, w, ioasId);
  if (ioas === undefined) {
    return refuse(
      w,
      process,
      kernelError("ENOENT", () => `object ${ioasId} is not an IOAS`),
    );
  }
  const range = { start, last };
  const free = checkReservable(ioas, [range]);
  if (!free.ok) return refuse(w, process, free.error);
  const world = putIoas(
    m,
    w,
    ioasId,
    withFields(ioas, { testReserved: [...ioas.testReserved, range] }),
  );
  const note: TraceEvent = {
    kind: "note",
    actor: IOMMUFD,
    text: `selftest: IOVA 0x${start.toString(16)}..0x${last.toString(16)} of IOAS ${ioasId} reserved`,
  };
  return returned(world, [note, ioctlEvent(process, { ok: true, ret: 0 })], { ret: 0 });
}

/**
 * `IOMMU_TEST_CMD` on the iommufd fd (kernel-model §3.6): without
 * CONFIG_IOMMUFD_TEST (no {@link iommufdSelftestMock}) the number is not in
 * iommufd's table, `ENOTTY`. Otherwise the size rule of
 * `iommufd_fops_ioctl` (`min_size` `offsetofend(last)` = 68: `EINVAL`
 * below it; `E2BIG` for non-zero bytes past the 72-byte struct), then
 * `iommufd_test`'s switch on `op`: `IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT`
 * (a limit below 12 `EINVAL`, else 0), `IOMMU_TEST_OP_ADD_RESERVED` (length
 * 0 `EINVAL`, an overflowing end `EOVERFLOW`, no such IOAS `ENOENT`, a range
 * meeting an area or an allowed range `EADDRINUSE`), `IOMMU_TEST_OP_DMABUF_GET` (length
 * rounded up to pages, 0 or more than 512 pages `EINVAL`; the new dma-buf's
 * fd is the return value), `IOMMU_TEST_OP_DMABUF_REVOKE` (bad fd `EBADF`,
 * another exporter's dma-buf `EOPNOTSUPP`; a revoke or un-revoke returns 0
 * once core's task is done, as VFIO's reset does), and `EOPNOTSUPP` for
 * every other op. Nothing is copied back. A failure changes nothing.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param buffer - the user's `struct iommu_test_cmd` (and any tail).
 * @param process - the caller, as traces name it.
 * @returns the outcome: done with `returned.ret` (the fd, or 0) and, for a
 *   revoke, the task in `world.tasks` the call waits for; failed; or
 *   blocked on the buffer's resv.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   IOMMU_TEST_OP_DMABUF_GET, boot, iommuTestCmdDmabufGet, referenceExporter, referenceMachine,
 * } from "@dmabuf-ref/core";
 * import { iommufdImporter, iommufdTestCmd } from "@dmabuf-ref/importers";
 *
 * const mock = referenceExporter({ name: "mock", region: "ram0", selftestHook: true });
 * const m = referenceMachine({ exporters: [mock], importers: [iommufdImporter()] });
 * const get = (length: number) =>
 *   iommufdTestCmd(
 *     m,
 *     boot(m),
 *     iommuTestCmdDmabufGet.encode({
 *       size: 72, op: IOMMU_TEST_OP_DMABUF_GET, id: 0, __reserved: 0,
 *       "dmabuf_get.length": length, "dmabuf_get.open_flags": 2, last: 0,
 *     }),
 *     "selftest",
 *   );
 * const r = get(0x3001);
 * assert.ok(r.status === "done");
 * assert.equal(r.returned?.ret, 1); // the new dma-buf's fd
 * assert.equal(r.world.bufs.get(1)?.size, 0x4000n); // rounded up to whole pages
 * const zero = get(0);
 * assert.equal(zero.status === "failed" ? zero.error.errno : zero.status, "EINVAL");
 * ```
 * @kernel drivers/iommu/iommufd/selftest.c iommufd_test
 * @category Drivers
 */
export function iommufdTestCmd(
  m: Machine,
  w: World,
  buffer: Uint8Array,
  process: string,
): StepOutcome {
  const mock = iommufdSelftestMock(m, w);
  if (mock === undefined) {
    return refuse(
      w,
      process,
      kernelError("ENOTTY", "IOMMU_TEST_CMD needs CONFIG_IOMMUFD_TEST (no selftest mock exporter)"),
    );
  }
  const minSize = findUapiIoctl(NAME)?.minSize ?? 0;
  const header = copyIommufdStruct(iommuTestCmd, minSize, buffer);
  if (!header.ok) return refuse(w, process, header.error);
  switch (header.value.value.op) {
    case IOMMU_TEST_OP_ADD_RESERVED: {
      const cmd = copyIommufdStruct(iommuTestCmdAddReserved, minSize, buffer);
      if (!cmd.ok) return refuse(w, process, cmd.error);
      const v = cmd.value.value;
      return addReserved(m, w, v.id, v["add_reserved.start"], v["add_reserved.length"], process);
    }
    case IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT: {
      const cmd = copyIommufdStruct(iommuTestCmdMemoryLimit, minSize, buffer);
      if (!cmd.ok) return refuse(w, process, cmd.error);
      const limit = cmd.value.value["memory_limit.limit"];
      if (limit < MIN_TEMP_MEMORY_LIMIT) {
        return refuse(
          w,
          process,
          kernelError(
            "EINVAL",
            () => `memory limit ${limit} is below one batch element (12 bytes)`,
          ),
        );
      }
      // iommufd_test_memory_limit bounds how much a page batch holds at a
      // time: more refills, the same pages. The model has no batches, so
      // nothing it shows depends on the limit, and it keeps none.
      return returned(w, [ioctlEvent(process, { ok: true, ret: 0 })], { ret: 0 });
    }
    case IOMMU_TEST_OP_DMABUF_GET: {
      const cmd = copyIommufdStruct(iommuTestCmdDmabufGet, minSize, buffer);
      if (!cmd.ok) return refuse(w, process, cmd.error);
      return dmabufGet(m, w, mock, cmd.value.value["dmabuf_get.length"], process);
    }
    case IOMMU_TEST_OP_DMABUF_REVOKE: {
      const cmd = copyIommufdStruct(iommuTestCmdDmabufRevoke, minSize, buffer);
      if (!cmd.ok) return refuse(w, process, cmd.error);
      const v = cmd.value.value;
      return dmabufRevoke(
        m,
        w,
        mock,
        v["dmabuf_revoke.dmabuf_fd"],
        v["dmabuf_revoke.revoked"] !== 0,
        process,
      );
    }
    default:
      return refuse(
        w,
        process,
        kernelError("EOPNOTSUPP", () => `test op ${header.value.value.op} is not modelled`),
      );
  }
}
