import type { Machine } from "../machine/machine.js";
import { match } from "ts-pattern";
import { kernelError } from "../errors/kernel-error.js";
import type { World } from "../world/world.js";
import { attachBuf, detachAtt } from "./attach.js";
import { accessDma, deviceDma, signalFence, submitDma } from "./fence.js";
import { mapAtt, unmapAtt } from "./map.js";
import type { Op } from "./op.js";
import type { StepOutcome } from "./outcome.js";
import { done, failed } from "./outcome.js";
import { pinAtt, unpinAtt } from "./pin.js";
import { setRegion } from "./region.js";
import { closeBuf } from "./release.js";
import { resvLock, resvUnlock } from "./resv.js";
import { startRevoke, startUnrevoke, stepTask } from "./revoke.js";

/**
 * Applies one operation to a world: `step(m, world, op)` of DESIGN §2a. The
 * result is the new world and its trace events, or a {@link KernelError}
 * with the *same* world, or "blocked" (the operation cannot proceed yet)
 * with the same world. Worlds are never mutated. A call that fails leaves
 * nothing behind, not even a contract violation it noticed before failing:
 * "a failed call changes no state" (DESIGN §3.7) is kept absolutely.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param op - the operation.
 * @returns the outcome.
 *
 * @example
 * ```ts
 * const r = step(m, world, { kind: "revoke", buf: 1, permanent: false, by: "exp0 FLR" });
 * if (r.status === "done") world = r.world;
 * ```
 */
export function step(m: Machine, w: World, op: Op): StepOutcome {
  return match(op)
    .returnType<StepOutcome>()
    .with({ kind: "export" }, (o) => exportBuf(m, w, o.exporter, o.owner, o.args))
    .with({ kind: "attach" }, (o) => attachBuf(m, w, o.buf, o.importer, o.device, o.dynamic))
    .with({ kind: "detach" }, (o) => detachAtt(m, w, o.att))
    .with({ kind: "lock" }, (o) => resvLock(w, o.buf, o.holder))
    .with({ kind: "unlock" }, (o) => resvUnlock(w, o.buf, o.holder))
    .with({ kind: "map" }, (o) => mapAtt(m, w, o.att, o.holder, o.args))
    .with({ kind: "unmap" }, (o) => unmapAtt(m, w, o.att, o.holder))
    .with({ kind: "pin" }, (o) => pinAtt(m, w, o.att, o.holder))
    .with({ kind: "unpin" }, (o) => unpinAtt(m, w, o.att, o.holder))
    .with({ kind: "dma-submit" }, (o) => submitDma(w, o.att, o.addr, o.len, o.dir, o.holder))
    .with({ kind: "dma-access" }, (o) => accessDma(m, w, o.job))
    .with({ kind: "signal" }, (o) => signalFence(w, o.job))
    .with({ kind: "dma" }, (o) => deviceDma(m, w, o.device, o.addr, o.len, o.dir))
    .with({ kind: "revoke" }, (o) => startRevoke(w, o.buf, o.permanent, o.by))
    .with({ kind: "unrevoke" }, (o) => startUnrevoke(w, o.buf, o.by))
    .with({ kind: "task" }, (o) => stepTask(m, w, o.task))
    .with({ kind: "close" }, (o) => closeBuf(m, w, o.buf))
    .with({ kind: "region" }, (o) => setRegion(w, o.region, o.status, o.by))
    .with({ kind: "driver" }, (o) => driverAction(m, w, o.driver, o.action))
    .exhaustive();
}

function exportBuf(
  m: Machine,
  w: World,
  exporter: string,
  owner: string,
  args: unknown,
): StepOutcome {
  const d = m.exporters.get(exporter);
  if (d?.export === undefined)
    return failed(w, kernelError("EINVAL", `exporter ${exporter} cannot export here`));
  const r = d.export(m, w, owner, args);
  return r.ok ? done(r.value.world, r.value.events, r.value.buf) : failed(w, r.error);
}

function driverAction(m: Machine, w: World, driver: string, action: unknown): StepOutcome {
  const d = m.exporters.get(driver) ?? m.importers.get(driver);
  if (d === undefined)
    return failed(w, kernelError("EINVAL", `no driver ${driver} in the machine`));
  if (typeof action !== "object" || action === null || !("op" in action))
    return failed(w, kernelError("EINVAL", `a ${driver} op names its op`));
  const { op: name, ...fields } = action;
  const def = d.ops?.find((o) => o.name === name);
  if (def === undefined)
    return failed(w, kernelError("EINVAL", `${driver} has no op ${String(name)}`));
  const args = def.schema.safeParse(fields);
  if (!args.success) {
    const issue = args.error.issues[0];
    const where = issue === undefined || issue.path.length === 0 ? "" : `${issue.path.join(".")}: `;
    return failed(
      w,
      kernelError("EINVAL", `bad ${driver} ${def.name}: ${where}${issue?.message ?? "invalid"}`),
    );
  }
  const r = def.run(m, w, args.data, driver);
  // A refusing or sleeping driver changes nothing, whatever world it returned.
  return match(r)
    .returnType<StepOutcome>()
    .with({ status: "done" }, (x) => x)
    .with({ status: "failed" }, (x) => ({ ...x, world: w }))
    .with({ status: "blocked" }, (x) => ({ ...x, world: w }))
    .exhaustive();
}
