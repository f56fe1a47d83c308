import { err, fail, kernelError, ok, returned, stepOf } from "@dmabuf-ref/core";
import type { Effect, Machine, Result, StepOutcome, World } from "@dmabuf-ref/core";
import { match } from "ts-pattern";
import type { VfioPciAction } from "./actions.js";
import type { VfioPciConfig } from "./config.js";
import { holdsMemoryLock } from "./operation.js";
import { deviceStateOf, operationsOf, updateDevice } from "./state.js";
import { continueOperation, startOperation } from "./vfio_pci_core.js";
import { cpuAccess, mmapBuf, munmapBuf } from "./vfio_pci_dmabuf_mmap.js";

/**
 * The device fd an action is issued on: an unknown device or a closed fd is
 * `-EBADF` (there is no fd to call on).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param config - the driver's configuration.
 * @param device - the device id.
 * @returns `ok(true)` when the fd is open, else `EBADF`.
 */
export function checkDeviceFd(
  m: Machine,
  w: World,
  config: VfioPciConfig,
  device: string,
): Result<true> {
  const d = deviceStateOf(m, w, config, device);
  if (d === undefined) return err("EBADF", () => `no vfio-pci device ${device}`);
  if (!d.open) return err("EBADF", () => `the fd of ${device} is closed`);
  return ok(true);
}

function onDevice(
  m: Machine,
  w: World,
  config: VfioPciConfig,
  device: string,
  then: () => Result<Effect>,
): Result<Effect> {
  const fd = checkDeviceFd(m, w, config, device);
  return fd.ok ? then() : fd;
}

function hotReset(m: Machine, w: World, config: VfioPciConfig, devSet: string): Result<Effect> {
  const devices = config.devices.filter((d) => d.devSet === devSet).map((d) => d.id);
  if (devices.length === 0) return err("EINVAL", () => `no dev_set ${devSet}`);
  if (!devices.some((d) => deviceStateOf(m, w, config, d)?.open === true)) {
    return err("EBADF", () => `no device of dev_set ${devSet} is open`);
  }
  const lockedBy = (d: string) =>
    operationsOf(m, w, config).find((o) => holdsMemoryLock(o.kind) && o.devices.includes(d));
  const busyAt = devices.findIndex((d) => lockedBy(d) !== undefined);
  if (busyAt < 0) return startOperation(m, w, config, "hot-reset", devices, devSet);
  const busy = devices[busyAt] ?? devSet;
  const error = kernelError(
    "EBUSY",
    () => `down_write_trylock(memory_lock) of ${busy} failed (${lockedBy(busy)?.actor ?? ""})`,
  );
  if (busyAt === 0) return fail(error);
  // The devices locked before the busy one were revoked; the undo path
  // restores them, and the ioctl's EBUSY is reported when it is done.
  const undo = startOperation(m, w, config, "hot-reset-unwind", devices.slice(0, busyAt), devSet);
  if (!undo.ok) return undo;
  return ok({
    world: undo.value.world,
    events: [
      ...undo.value.events,
      { kind: "error", actor: devSet, call: "VFIO_DEVICE_PCI_HOT_RESET", error },
    ],
  });
}

function close(m: Machine, w: World, config: VfioPciConfig, device: string): Result<Effect> {
  return onDevice(m, w, config, device, () =>
    startOperation(
      m,
      updateDevice(m, w, config, device, { open: false }),
      config,
      "close",
      [device],
      device,
    ),
  );
}

function unbind(m: Machine, w: World, config: VfioPciConfig, device: string): Result<Effect> {
  const d = deviceStateOf(m, w, config, device);
  if (d === undefined) return err("EINVAL", () => `vfio-pci is not bound to ${device}`);
  if (!d.bound) return err("ENODEV", () => `vfio-pci was already unbound from ${device}`);
  if (!d.registered) return err("EBUSY", () => `an unbind of ${device} is in progress`);
  return startOperation(m, w, config, "unbind", [device], device);
}

/**
 * `act` of the vfio-pci driver: validates the action with zod (`EINVAL`
 * otherwise) and runs it. Device actions need an open device fd (`EBADF`).
 * A trigger of kernel-model §2.5 starts a multi-stage operation that sleeps
 * on `memory_lock` behind earlier ones, revokes, lets the hardware change,
 * and un-revokes iff memory is enabled; `pending` offers its next stage. A
 * hot reset only tries each lock of its dev_set in order: the first one
 * busy is `EBUSY` (nothing changed), a later one starts the undo path
 * (`hot-reset-unwind`) for the devices before it and reports `EBUSY` as an
 * `error` event.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param config - the driver's configuration.
 * @param action - the action, unvalidated.
 * @returns the world and events, or the errno (world unchanged).
 */
export function vfioAct(
  m: Machine,
  w: World,
  config: VfioPciConfig,
  action: VfioPciAction,
): Result<Effect> {
  return match(action)
    .returnType<Result<Effect>>()
    .with({ op: "flr" }, (x) =>
      onDevice(m, w, config, x.device, () =>
        startOperation(m, w, config, "flr", [x.device], x.device),
      ),
    )
    .with({ op: "reset" }, (x) =>
      onDevice(m, w, config, x.device, () =>
        startOperation(m, w, config, "reset", [x.device], x.device, x.process),
      ),
    )
    .with({ op: "config-write-command" }, (x) =>
      onDevice(m, w, config, x.device, () =>
        startOperation(m, w, config, x.memory ? "memory-on" : "memory-off", [x.device], x.device),
      ),
    )
    .with({ op: "power" }, (x) =>
      onDevice(m, w, config, x.device, () =>
        startOperation(m, w, config, x.state === "D0" ? "d0" : "d3hot", [x.device], x.device),
      ),
    )
    .with({ op: "low-power" }, (x) =>
      onDevice(m, w, config, x.device, () =>
        startOperation(
          m,
          w,
          config,
          x.enter ? "low-power-entry" : "low-power-exit",
          [x.device],
          x.device,
        ),
      ),
    )
    .with({ op: "hot-reset" }, (x) => hotReset(m, w, config, x.devSet))
    .with({ op: "close-device" }, (x) => close(m, w, config, x.device))
    .with({ op: "unbind" }, (x) => unbind(m, w, config, x.device))
    .with({ op: "mmap" }, (x) =>
      mmapBuf(m, w, config, {
        process: x.process,
        buf: x.buf,
        offset: x.offset,
        length: x.length,
        shared: x.shared,
      }),
    )
    .with({ op: "munmap" }, (x) => munmapBuf(m, w, config, x.process, x.addr))
    .with({ op: "cpu-access" }, (x) => ok(cpuAccess(m, w, config, x)))
    .with({ op: "continue" }, (x) => continueOperation(m, w, config, x.id))
    .exhaustive();
}

/**
 * {@link vfioAct} as core's step outcome (the driver's `actions.run`). An
 * `mmap()` of a dma-buf fd returns the VMA's start address as mmap(2) does
 * (`returned.ret`), so a replay or scenario call's `as:` binds it; every
 * other action returns nothing. User addresses are below 2^47, so the
 * address is exact as a number.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param config - the driver's configuration.
 * @param action - the action.
 * @returns done (with `returned.ret` for an mmap), or the errno with the world unchanged.
 * @kernel mm/mmap.c do_mmap (the address mmap(2) returns)
 */
export function vfioActStep(
  m: Machine,
  w: World,
  config: VfioPciConfig,
  action: VfioPciAction,
): StepOutcome {
  if (action.op !== "mmap") return stepOf(w, vfioAct(m, w, config, action));
  const r = mmapBuf(m, w, config, {
    process: action.process,
    buf: action.buf,
    offset: action.offset,
    length: action.length,
    shared: action.shared,
  });
  if (!r.ok) return stepOf(w, r);
  if (r.value.addr > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new Error(`vfio-pci: VMA address ${r.value.addr} is not a user address`);
  }
  return returned(r.value.world, r.value.events, { ret: Number(r.value.addr) });
}
