// drivers/vfio/pci/vfio_pci_dmabuf.c as Matt Evans' series "Support mmap()
// of a VFIO DMABUF" extends it (kernel-model §2.6). Models:
// - the `.mmap` op of `vfio_pci_dmabuf_ops` as `dma_buf_mmap_internal()`
//   reaches it (mmapBuf: its checks, and the VMA's reference to the file);
// - `munmap()` of such a VMA (munmapBuf: the reference dropped);
// - a CPU load or store through the VMA, refused by the fault handler while
//   the buffer is revoked (cpuAccess).
// The VMA is `VfioVma` (vma.ts); where the next one lands (first fit, as
// `get_unmapped_area` searches) is in state.ts.
import {
  bufWith,
  dropFileRef,
  err,
  hex,
  isKernelError,
  lookupBuf,
  ok,
  recordViolation,
  regionContaining,
  worldWith,
} from "@dmabuf-ref/core";
import type {
  DmaBufState,
  DmaDirection,
  Effect,
  Machine,
  PhysVec,
  Result,
  TraceEvent,
  World,
} from "@dmabuf-ref/core";
import type { VfioPciConfig } from "./config.js";
import { PAGE_SIZE } from "./page.js";
import { vfioProfileOptions } from "./profile-options.js";
import { addVma, findVma, removeVma } from "./state.js";
import { privOf } from "./vfio_pci_dmabuf.js";

const note = (actor: string, text: string): TraceEvent => ({ kind: "note", actor, text });

/** What a process asks of `mmap()` on a dma-buf fd. */
export interface MmapRequest {
  /** The calling process. */
  readonly process: string;
  /** The dma-buf id (its fd). */
  readonly buf: number;
  /** Byte offset into the buffer; must be page aligned. */
  readonly offset: bigint;
  /** Bytes; default the rest of the buffer. Rounded up to whole pages. */
  readonly length?: bigint | undefined;
  /** `MAP_SHARED`; VFIO refuses private mappings of MMIO. */
  readonly shared: boolean;
}

/**
 * The checks of VFIO's dma-buf `mmap` op (Matt Evans' series, kernel-model
 * §2.6) in the order `dma_buf_mmap_internal()` and the op make them, without
 * creating the VMA: what core's process-memory model asks an exporter
 * before it records a `mmap()` of a dma-buf fd, and the first half of
 * {@link mmapBuf}.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param config - the driver's configuration.
 * @param req - the request.
 * @returns the buffer and the page-rounded length, or the errno.
 */
export function mmapChecks(
  m: Machine,
  w: World,
  config: VfioPciConfig,
  req: MmapRequest,
): Result<{ readonly b: DmaBufState; readonly len: bigint }> {
  if (!vfioProfileOptions(m.profile).dmabufMmap) {
    return err("EINVAL", "this dma-buf has no mmap op (no VFIO dma-buf mmap in this profile)");
  }
  const b = lookupBuf(w, req.buf);
  if (isKernelError(b)) return { ok: false, error: b };
  if (b.exporter !== config.name)
    return err("EINVAL", () => `buf ${req.buf} is not a vfio-pci dma-buf`);
  if (req.offset % PAGE_SIZE !== 0n) return err("EINVAL", "mmap offset is not page aligned");
  const want = req.length ?? b.size - req.offset;
  if (want <= 0n) return err("EINVAL", "mmap of zero bytes");
  const len = ((want + PAGE_SIZE - 1n) / PAGE_SIZE) * PAGE_SIZE;
  if (req.offset + len > b.size) {
    return err("EINVAL", "vm_pgoff + vma_pages() is past dmabuf->size");
  }
  if (!req.shared) return err("EINVAL", "VFIO maps MMIO only with MAP_SHARED");
  if (b.revoked === "permanent") {
    return err("ENODEV", () => `buf ${req.buf} is PERM_REVOKED: it cannot be mmapped again`);
  }
  return ok({ b, len });
}

/**
 * `mmap()` of a VFIO dma-buf fd (kernel-model §2.6), only where the profile
 * has Matt Evans' series (the vfio-pci option `dmabufMmap`): otherwise the buffer has
 * no `mmap` op and `dma_buf_mmap_internal()` answers `-EINVAL`. A zero
 * length, an unaligned offset, a window past `dmabuf->size` or a private
 * mapping are `-EINVAL`; an fd that is not a live dma-buf is `-EBADF`; a
 * PERM_REVOKED buffer is `-ENODEV` (final). The VMA takes a reference to
 * the buffer's file and the caching MEMATTR set (NC by default). Mapping a
 * temporarily revoked buffer succeeds; touching it faults until it is
 * un-revoked.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param config - the driver's configuration.
 * @param req - the request.
 * @returns the world with the VMA and its start address (what mmap(2)
 *   returns), or the errno.
 */
export function mmapBuf(
  m: Machine,
  w: World,
  config: VfioPciConfig,
  req: MmapRequest,
): Result<Effect & { readonly addr: bigint }> {
  const checked = mmapChecks(m, w, config, req);
  if (!checked.ok) return checked;
  const { b, len } = checked.value;
  const memattr = privOf(w, req.buf).memattr;
  const { world, vma } = addVma(
    m,
    worldWith(w, { bufs: w.bufs.set(req.buf, bufWith(b, { fileRefs: b.fileRefs + 1 })) }),
    config,
    { process: req.process, buf: req.buf, len, offset: req.offset, memattr },
  );
  return ok({
    world,
    addr: vma.addr,
    events: [
      note(
        req.process,
        `mmap buf ${req.buf} +${hex(req.offset)} len ${hex(len)} at ${hex(vma.addr)} ` +
          (memattr === 1 ? "(WC)" : "(NC)"),
      ),
    ],
  });
}

/**
 * `munmap()` of a whole VMA: drops its reference to the dma-buf's file (the
 * last one releases the buffer). An address that starts no VMA of the
 * process is `-EINVAL`.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param config - the driver's configuration.
 * @param process - the process.
 * @param addr - the VMA's start address.
 * @returns the world, or the errno.
 */
export function munmapBuf(
  m: Machine,
  w: World,
  config: VfioPciConfig,
  process: string,
  addr: bigint,
): Result<Effect> {
  const found = findVma(m, w, config, (v) => v.process === process && v.addr === addr);
  if (found === undefined)
    return err("EINVAL", () => `${process} has no VFIO dma-buf VMA at ${hex(addr)}`);
  const [slot, vma] = found;
  const unmapped = removeVma(m, w, config, slot);
  const put = dropFileRef(m, unmapped, vma.buf);
  return ok({
    world: put.world,
    events: [note(process, `munmap ${hex(addr)} (buf ${vma.buf})`), ...put.events],
  });
}

/** The physical pieces behind `[offset, offset + len)` of a buffer whose ranges are concatenated. */
function physPieces(phys: readonly PhysVec[], offset: bigint, len: bigint): PhysVec[] {
  const out: PhysVec[] = [];
  let at = 0n;
  let from = offset;
  let left = len;
  for (const r of phys) {
    if (left === 0n) break;
    if (from < at + r.len) {
      const skip = from - at;
      const take = r.len - skip < left ? r.len - skip : left;
      out.push({ paddr: r.paddr + skip, len: take });
      from += take;
      left -= take;
    }
    at += r.len;
  }
  return out;
}

/** What a CPU access did, as the `cpu` trace event reports it. */
type CpuOutcome = Extract<TraceEvent, { kind: "cpu" }>["outcome"];

/**
 * A process touches memory through a VFIO dma-buf VMA. No VMA there: a
 * fault (SIGSEGV). A revoked buffer: its PTEs were zapped and the fault
 * handler (`vfio_pci_mmap_huge_fault`, which checks the status under resv)
 * refuses with `VM_FAULT_SIGBUS`, so a fault: the protection working, never
 * a violation. Otherwise the access reaches the BAR; a BAR that does not
 * decode (reset, disabled) while the buffer is still usable is an
 * `access-after-revoke` violation: the exporter let a CPU mapping outlive the
 * memory (the 7.1 close window, kernel-model §2.5).
 *
 * The verdict is a `cpu` trace event (`outcome` ok, fault or violation),
 * which a replay or a scenario thread reads as the call's outcome, as it
 * reads a `dma` event's.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param config - the driver's configuration.
 * @param access - who touches what.
 * @returns the world (with any violation) and events, ending with the `cpu` event.
 * @kernel drivers/vfio/pci/vfio_pci_core.c vfio_pci_mmap_huge_fault (Matt Evans' series)
 */
export function cpuAccess(
  m: Machine,
  w: World,
  config: VfioPciConfig,
  access: {
    readonly process: string;
    readonly addr: bigint;
    readonly len: bigint;
    readonly dir: DmaDirection;
  },
): Effect {
  const { process, addr, len, dir } = access;
  const cpu = (actor: string, outcome: CpuOutcome, detail: string): TraceEvent => ({
    kind: "cpu",
    actor,
    process,
    addr,
    len,
    dir,
    outcome,
    detail,
  });
  const vma = findVma(
    m,
    w,
    config,
    (v) => v.process === process && addr >= v.addr && addr + len <= v.addr + v.len,
  )?.[1];
  if (vma === undefined)
    return { world: w, events: [cpu(process, "fault", "SIGSEGV: no VMA at this address")] };
  const b = lookupBuf(w, vma.buf);
  if (isKernelError(b)) throw new Error(`a VMA outlived buf ${vma.buf}`);
  const owner = privOf(w, vma.buf).vdev ?? b.owner;
  if (b.revoked !== "usable") {
    return {
      world: w,
      events: [cpu(owner, "fault", `SIGBUS: buf ${vma.buf} revoked, PTEs zapped`)],
    };
  }
  let world = w;
  const events: TraceEvent[] = [];
  const landed: string[] = [];
  const dead: string[] = [];
  for (const piece of physPieces(privOf(w, vma.buf).phys, vma.offset + addr - vma.addr, len)) {
    const found = regionContaining(world, piece.paddr, piece.len);
    if (found === undefined) throw new Error(`no region holds ${hex(piece.paddr)}`);
    const [, region] = found;
    const where = `${region.id}+${hex(piece.paddr - region.base)}`;
    if (region.status === "live") {
      landed.push(where);
      continue;
    }
    dead.push(where);
    const v = recordViolation(world, {
      kind: "access-after-revoke",
      rule: "no CPU access through a dma-buf mmap after the BAR was reset or disabled",
      actor: process,
      message: `${process} reached ${region.id} through buf ${vma.buf} while it does not decode`,
    });
    world = v.world;
    events.push(v.event);
  }
  const verdict =
    dead.length === 0
      ? cpu(owner, "ok", `at ${landed.join(", ")}`)
      : cpu(owner, "violation", `${dead.join(", ")} does not decode`);
  return { world, events: [...events, verdict] };
}
