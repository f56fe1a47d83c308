import type * as z from "zod";
import type { Op } from "../lifetime/op.js";
import type { StepOutcome } from "../lifetime/outcome.js";
import type { SliceDef } from "../world/driver-slice.js";
import type { World } from "../world/world.js";
import type { OpName } from "./driver-op.js";
import { driverOpsOf } from "./driver-op.js";
import type { DriverOp, ExporterDriver, ImporterDriver, Machine } from "./machine.js";

/**
 * A driver's slices by name (each with its own value type).
 *
 * @category Drivers
 */
export type SliceRecord = Readonly<Record<string, SliceDef<unknown>>>;

/**
 * A union of a driver's actions, discriminated on `op` (one variant per entry point).
 *
 * @category Drivers
 */
export type ActionUnion = z.ZodDiscriminatedUnion<z.ZodObject[], "op">;

/**
 * A driver's entry points as one union of actions: the schema, what each
 * op models in the kernel, and the handler that matches over the union.
 *
 * @typeParam A - the union of actions.
 *
 * @category Drivers
 */
export interface ActionsSpec<A extends ActionUnion> {
  /** The union of actions, discriminated on `op`. */
  readonly schema: A;
  /** The kernel function, ioctl or event each op models, by op name. */
  readonly models: Readonly<Record<OpName<A>, string>>;
  /**
   * The handler of every action (one exhaustive match over the union).
   *
   * @param m - the machine.
   * @param world - the world.
   * @param action - the validated action.
   * @param self - the driver instance's name.
   */
  run(m: Machine, world: World, action: z.output<A>, self: string): StepOutcome;
}

/**
 * The exporter callbacks a driver supplies (`struct dma_buf_ops` and the driver's own).
 *
 * @category Drivers
 */
export type ExporterCallbacks = Omit<ExporterDriver, "name" | "slices" | "ops">;
/**
 * The importer callbacks a driver supplies (`struct dma_buf_attach_ops` and the driver's own).
 *
 * @category Drivers
 */
export type ImporterCallbacks = Omit<ImporterDriver, "name" | "slices" | "ops">;

/**
 * What {@link defineDriver} takes: the driver's name, its slices by name,
 * its entry points as one union of actions, and its callbacks.
 *
 * @typeParam S - the slices by name.
 * @typeParam A - the union of actions.
 *
 * @category Drivers
 */
export interface DriverSpecBase<S extends SliceRecord, A extends ActionUnion> {
  /** The instance's name in the machine (e.g. "vfio-pci", or a configured one). */
  readonly name: string;
  /** The driver's state: its slices, by name. */
  readonly slices: S;
  /** Its entry points. Absent: none. */
  readonly actions?: ActionsSpec<A>;
  /** Further single ops (`defineDriverOp`) beside the union. */
  readonly ops?: readonly DriverOp[];
}

/**
 * {@link defineDriver}'s argument for an exporter.
 *
 * @category Drivers
 */
export interface ExporterSpec<S extends SliceRecord, A extends ActionUnion> extends DriverSpecBase<
  S,
  A
> {
  /** Discriminant: an exporter (`struct dma_buf_ops`). */
  readonly role: "exporter";
  /** Its callbacks. */
  readonly callbacks: ExporterCallbacks;
}

/**
 * {@link defineDriver}'s argument for an importer.
 *
 * @category Drivers
 */
export interface ImporterSpec<S extends SliceRecord, A extends ActionUnion> extends DriverSpecBase<
  S,
  A
> {
  /** Discriminant: an importer (`struct dma_buf_attach_ops`). */
  readonly role: "importer";
  /** Its callbacks. */
  readonly callbacks: ImporterCallbacks;
}

/**
 * What a defined driver offers beyond the machine's driver interface: its
 * slices by name, typed, and a builder of its ops, typed by its union of
 * actions (what `pending`, `candidates`, tests and scenarios write).
 *
 * @typeParam S - the slices by name.
 * @typeParam A - the union of actions.
 *
 * @category Drivers
 */
export interface DefinedDriver<S extends SliceRecord, A extends ActionUnion> {
  /** The slices by name: `readSlice(m, w, d.name, d.state.devices)` is typed. */
  readonly state: S;
  /**
   * A core `driver` op for one of this instance's actions, checked at
   * compile time against the union (`step` validates again at run time).
   *
   * @param action - the action as written.
   */
  op(action: z.input<A>): Op;
}

/**
 * A defined exporter: the machine's {@link ExporterDriver} plus {@link DefinedDriver}.
 *
 * @category Drivers
 */
export type DefinedExporter<S extends SliceRecord, A extends ActionUnion> = ExporterDriver &
  DefinedDriver<S, A>;
/**
 * A defined importer: the machine's {@link ImporterDriver} plus {@link DefinedDriver}.
 *
 * @category Drivers
 */
export type DefinedImporter<S extends SliceRecord, A extends ActionUnion> = ImporterDriver &
  DefinedDriver<S, A>;

/**
 * Defines a driver in one place, as zod defines a schema kind with one
 * factory (STYLE.md, "Three examples to follow next"): its name, its slices
 * by name, its entry points as one union of actions, and its callbacks.
 * The result is the machine's driver (`ExporterDriver` or `ImporterDriver`,
 * frozen) with its slices typed by name (`state`) and a typed op builder
 * (`op`).
 *
 * @param spec - the driver's role, name, slices, actions and callbacks.
 * @returns the driver.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as z from "zod";
 * import {
 *   boot,
 *   defineDriver,
 *   defineSlice,
 *   done,
 *   intCodec,
 *   readSlice,
 *   referenceImporter,
 *   referenceMachine,
 *   step,
 *   writeSlice,
 * } from "@dmabuf-ref/core";
 *
 * const evictions = defineSlice("evictions", intCodec, 0);
 * const gpu = defineDriver({
 *   role: "importer",
 *   name: "gpu1",
 *   slices: { evictions },
 *   actions: {
 *     schema: z.discriminatedUnion("op", [z.strictObject({ op: z.literal("evict") })]),
 *     models: { evict: "ttm_bo_evict()" },
 *     run: (m, w, _action, self) =>
 *       done(writeSlice(m, w, self, evictions, readSlice(m, w, self, evictions) + 1), []),
 *   },
 *   callbacks: referenceImporter({ name: "gpu1" }),
 * });
 * const m = referenceMachine({ importers: [gpu] });
 * const r = step(m, boot(m), gpu.op({ op: "evict" }));
 * assert.ok(r.status === "done");
 * assert.equal(readSlice(m, r.world, gpu.name, gpu.state.evictions), 1);
 * ```
 *
 * @category Drivers
 */
export function defineDriver<S extends SliceRecord, A extends ActionUnion>(
  spec: ExporterSpec<S, A>,
): DefinedExporter<S, A>;
export function defineDriver<S extends SliceRecord, A extends ActionUnion>(
  spec: ImporterSpec<S, A>,
): DefinedImporter<S, A>;
export function defineDriver<S extends SliceRecord, A extends ActionUnion>(
  spec: ExporterSpec<S, A> | ImporterSpec<S, A>,
): DefinedExporter<S, A> | DefinedImporter<S, A> {
  const name = spec.name;
  const actions = spec.actions;
  const actionOps: readonly DriverOp[] =
    actions === undefined
      ? []
      : driverOpsOf(actions.schema, actions.models, (m, w, a, self) => actions.run(m, w, a, self));
  const common = {
    name,
    slices: Object.values(spec.slices),
    ops: [...actionOps, ...(spec.ops ?? [])],
    state: spec.slices,
    op: (action: z.input<A>): Op => ({ kind: "driver", driver: name, action }),
  };
  return Object.freeze({ ...spec.callbacks, ...common });
}
