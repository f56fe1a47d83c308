import {
  bufWith,
  dropFileRef,
  err,
  firstFitIn,
  invalidateMappings,
  mustBuf,
  ok,
  regionNamed,
  setRegionStatus,
  unsignalledFences,
  worldWith,
} from "@dmabuf-ref/core";
import type { Effect, Machine, Op, RegionState, Result, TraceEvent, World } from "@dmabuf-ref/core";
import { match } from "ts-pattern";
import type { GpuAction, GpuPlacement } from "./actions.js";
import type { GpuConfig, GpuDeviceConfig } from "./config.js";
import {
  addMove,
  endMove,
  gpuMoveOf,
  gpuPrivOf,
  gpuSliceOf,
  nextMoveId,
  withGpuPriv,
} from "./state.js";
import type { GpuMove } from "./state.js";

/**
 * The configuration of the GPU a BO belongs to.
 *
 * @param config - the driver's configuration.
 * @param device - the GPU's id.
 * @returns the GPU's configuration.
 * @throws when the GPU is not configured (a model bug: export checks it).
 */
export function gpuDevice(config: GpuConfig, device: string): GpuDeviceConfig {
  const d = config.devices.find((x) => x.id === device);
  if (d === undefined) throw new Error(`${config.name}: no GPU ${device}`);
  return d;
}

/**
 * The region name a placement of a GPU carves from.
 *
 * @param d - the GPU.
 * @param placement - VRAM or system.
 * @returns the parent region's name.
 */
export function placementRegion(d: GpuDeviceConfig, placement: GpuPlacement): string {
  return placement === "vram" ? d.vram : d.system;
}

/**
 * Reserves `size` bytes in a region: the first hole that fits between the
 * region's live buffer objects and the destinations of moves in flight
 * (TTM's range manager hands freed VRAM out again, so evicting and
 * restoring a BO returns to where it was).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param config - the driver's configuration.
 * @param region - the parent region's name.
 * @param size - bytes.
 * @returns the reserved base (the world is unchanged: the reservation is the move's or the carve's), or `ENOMEM`.
 */
export function reserve(
  m: Machine,
  w: World,
  config: GpuConfig,
  region: string,
  size: bigint,
): Result<{ readonly phys: bigint; readonly world: World }> {
  const promised = gpuSliceOf(m, w, config).moves.flatMap((mv) => {
    const b = w.bufs.get(mv.buf);
    if (b === undefined) return [];
    const d = gpuDevice(config, gpuPrivOf(w, mv.buf).device);
    return placementRegion(d, mv.to) === region ? [{ base: mv.phys, size: b.size }] : [];
  });
  const phys = firstFitIn(w, region, size, promised);
  if (phys === undefined) return err("ENOMEM", () => `${region} is full`);
  return ok({ phys, world: w });
}

/**
 * Carves a live sub-region for a BO's backing store, so that freeing it
 * later is visible to the oracle (DESIGN §3.5).
 *
 * @param w - the world.
 * @param parentName - the parent region (VRAM or RAM).
 * @param id - the sub-region's name.
 * @param phys - its base.
 * @param size - its size.
 * @returns the new world.
 */
export function carve(w: World, parentName: string, id: string, phys: bigint, size: bigint): World {
  const found = regionNamed(w, parentName);
  if (found === undefined) throw new Error(`no region ${parentName}`);
  const [, parent] = found;
  // A name freed by an earlier BO with the same id is taken over, so names stay unique.
  const rid = regionNamed(w, id)?.[0] ?? w.regions.lowestFreeId();
  const next = w;
  const region: RegionState = {
    id,
    kind: parent.kind,
    base: phys,
    size,
    busOffset: parent.busOffset,
    ...(parent.device === undefined ? {} : { device: parent.device }),
    status: "live",
  };
  return worldWith(next, { regions: next.regions.set(rid, region) });
}

/**
 * Frees a carved sub-region: it becomes inaccessible and its grants
 * stale, so any later access through an old grant is caught.
 *
 * @param w - the world.
 * @param name - the sub-region's name.
 * @param actor - who frees it.
 * @returns the world and the region event.
 */
export function freeRegion(w: World, name: string, actor: string): Effect {
  const found = regionNamed(w, name);
  if (found === undefined) throw new Error(`region ${name} vanished`);
  const [id] = found;
  return {
    world: setRegionStatus(w, id, "freed"),
    events: [{ kind: "region", actor, region: name, status: "inaccessible" }],
  };
}

/**
 * Starts a move (`ttm_bo_evict()` / `ttm_bo_validate()`, kernel-model §1.2,
 * §1.3): an unknown BO is `ENOENT`; a BO already in `to` is `EINVAL`; a
 * pinned BO (any attachment with a pin, explicit or from pin-on-map) is
 * `EBUSY`, as TTM refuses to evict pinned BOs; a resv held by someone else
 * is `EBUSY` (eviction only trylocks); no room in the destination is
 * `ENOMEM`. Otherwise, under resv: reserve the destination, invalidate every
 * dynamic attachment (a move, not a revoke: the revoked state is unchanged
 * and importers may re-map), take a BO reference, and leave the rest to the
 * `continue` stage. Every failure leaves the world unchanged.
 */
function startMove(
  m: Machine,
  w: World,
  config: GpuConfig,
  buf: number,
  to: GpuPlacement,
): Result<Effect> {
  const b = w.bufs.get(buf);
  if (b === undefined || b.exporter !== config.name || b.released) {
    return err("ENOENT", () => `no GPU buffer object ${buf}`);
  }
  const priv = gpuPrivOf(w, buf);
  if (priv.placement === to) return err("EINVAL", () => `BO ${buf} is already in ${to}`);
  for (const id of b.attachments) {
    if ((w.atts.get(id)?.pins ?? 0) > 0) {
      return err("EBUSY", () => `BO ${buf} is pinned (attachment ${id}): TTM will not move it`);
    }
  }
  if (b.resvHolder !== null) {
    return err(
      "EBUSY",
      () => `dma_resv_trylock() of buf ${buf} failed: held by ${String(b.resvHolder)}`,
    );
  }
  const d = gpuDevice(config, priv.device);
  const reserved = reserve(m, w, config, placementRegion(d, to), b.size);
  if (!reserved.ok) return reserved;
  const world0 = reserved.value.world;
  // A move's id is the lowest one no move in flight uses (ids repeat, DESIGN §2a).
  const id = nextMoveId(m, world0, config);
  const holder = `${b.owner}#ttm move ${id}`;
  const locked: World = worldWith(world0, {
    bufs: world0.bufs.set(buf, bufWith(b, { resvHolder: holder, fileRefs: b.fileRefs + 1 })),
  });
  const inv = invalidateMappings(m, locked, buf, holder);
  const move: GpuMove = { id, buf, to, phys: reserved.value.phys, holder };
  return ok({
    world: addMove(m, inv.world, config, move),
    events: [
      { kind: "resv", holder, owner: b.owner, buf, action: "lock" },
      {
        kind: "note",
        actor: b.owner,
        text: `TTM moves buf ${buf} from ${priv.placement} to ${to}`,
      },
      ...inv.events,
    ],
  });
}

/**
 * The second stage of a move, once every BOOKKEEP fence signalled: copy the
 * data, free the old placement (its sub-region becomes inaccessible, epoch
 * bumped), carve the new one, unlock resv and drop the BO reference.
 */
function finishMove(m: Machine, w: World, config: GpuConfig, id: number): Result<Effect> {
  const move = gpuMoveOf(m, w, config, id);
  if (move === undefined) return err("EINVAL", () => `no GPU move ${id}`);
  const n = unsignalledFences(w, move.buf);
  if (n > 0) return err("EBUSY", () => `${n} fence(s) of buf ${move.buf} unsignalled`);
  const b = mustBuf(w, move.buf);
  const priv = gpuPrivOf(w, move.buf);
  const d = gpuDevice(config, priv.device);
  const events: TraceEvent[] = [
    {
      kind: "wait",
      by: move.holder,
      owner: b.owner,
      buf: move.buf,
      what: "fences",
      state: "done",
      outstanding: 0,
    },
  ];
  const freed = freeRegion(w, priv.region, b.owner);
  events.push(...freed.events);
  // Two names per BO, old and new, alternate: a name two moves back is dead and taken over.
  const generation = 1 - priv.generation;
  const region = `${b.owner}.bo${move.buf}.${generation}`;
  let world = carve(freed.world, placementRegion(d, move.to), region, move.phys, b.size);
  world = withGpuPriv(world, move.buf, {
    ...priv,
    placement: move.to,
    phys: move.phys,
    region,
    generation,
  });
  const locked = mustBuf(world, move.buf);
  world = worldWith(world, {
    bufs: world.bufs.set(move.buf, bufWith(locked, { resvHolder: null })),
  });
  events.push({
    kind: "resv",
    holder: move.holder,
    owner: b.owner,
    buf: move.buf,
    action: "unlock",
  });
  world = endMove(m, world, config, id);
  const put = dropFileRef(m, world, move.buf);
  return ok({ world: put.world, events: [...events, ...put.events] });
}

/**
 * The GPU driver's ops (validated by core's `step` against
 * `gpuActionSchema`): start or continue a move.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param config - the driver's configuration.
 * @param action - the validated action.
 * @returns the change, or the errno with the world unchanged.
 */
export function gpuAct(m: Machine, w: World, config: GpuConfig, action: GpuAction): Result<Effect> {
  return match(action)
    .returnType<Result<Effect>>()
    .with({ op: "evict" }, (a) => startMove(m, w, config, a.buf, a.to))
    .with({ op: "migrate" }, (a) => startMove(m, w, config, a.buf, a.to))
    .with({ op: "continue" }, (a) => finishMove(m, w, config, a.id))
    .exhaustive();
}

/**
 * The GPU driver's own next steps: the `continue` of every move whose
 * fences have all signalled (a move waiting for fences offers nothing).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param config - the driver's configuration.
 * @returns the ops.
 */
export function gpuPending(m: Machine, w: World, config: GpuConfig): Op[] {
  return gpuSliceOf(m, w, config)
    .moves.filter((m) => unsignalledFences(w, m.buf) === 0)
    .map((m) => ({ kind: "driver", driver: config.name, action: { op: "continue", id: m.id } }));
}
