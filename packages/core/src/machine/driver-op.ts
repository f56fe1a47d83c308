import * as z from "zod";
import type { Op } from "../lifetime/op.js";
import type { StepOutcome } from "../lifetime/outcome.js";
import type { World } from "../world/world.js";
import type { DriverOp, Machine } from "./machine.js";
import { withFields } from "../encoding/record-with.js";

/**
 * Declares a driver op with a typed handler (see {@link DriverOp}).
 *
 * @param def - the name, what it models, the fields' schema and the handler.
 * @returns the op, ready for a driver's `ops` table.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as z from "zod";
 * import {
 *   boot,
 *   defineDriverOp,
 *   deviceIdSchema,
 *   done,
 *   driverOpCall,
 *   referenceImporter,
 *   referenceMachine,
 *   step,
 * } from "@dmabuf-ref/core";
 *
 * const flr = defineDriverOp({
 *   name: "flr",
 *   models: "pci_reset_function() from a guest's config write",
 *   schema: z.strictObject({ device: deviceIdSchema }),
 *   run: (_m, w, { device }) => done(w, [{ kind: "note", actor: device, text: "FLR" }]),
 * });
 * const m = referenceMachine({
 *   importers: [{ ...referenceImporter({ name: "gpu1" }), ops: [flr] }],
 * });
 * assert.equal(step(m, boot(m), driverOpCall("gpu1", flr, { device: "dev1" })).status, "done");
 * // step checks the fields against the schema before the handler runs
 * const bad = step(m, boot(m), {
 *   kind: "driver",
 *   driver: "gpu1",
 *   action: { op: "flr", device: 1 },
 * });
 * assert.ok(bad.status === "failed");
 * assert.equal(bad.error.errno, "EINVAL");
 * ```
 *
 * @category Drivers
 */
export function defineDriverOp<A, I>(def: {
  readonly name: string;
  readonly models: string;
  readonly schema: z.ZodType<A, I>;
  run(m: Machine, world: World, args: A, self: string): StepOutcome;
}): DriverOp<A, I> {
  return def;
}

/**
 * A core `driver` op that runs `def` on the driver instance `driver`, its
 * fields typed by the op's schema (what a driver's `pending` and
 * `candidates` hand out, and what a test writes).
 *
 * @param driver - the driver instance's name in the machine.
 * @param def - the driver op.
 * @param fields - its fields, as the schema takes them.
 * @returns the op.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { driverOpCall, releaseOp } from "@dmabuf-ref/core";
 *
 * assert.deepEqual(driverOpCall("ref-importer", releaseOp(), { att: 1 }), {
 *   kind: "driver",
 *   driver: "ref-importer",
 *   action: { att: 1, op: "release" },
 * });
 * ```
 *
 * @category Drivers
 */
export function driverOpCall<A, I extends object>(
  driver: string,
  def: DriverOp<A, I>,
  fields: I,
): Op {
  return { kind: "driver", driver, action: withFields(fields, { op: def.name }) };
}

/**
 * A driver's ops from one discriminated union of actions (`op` the
 * discriminant): one {@link DriverOp} per variant, each validating its
 * fields against the whole union with its name filled in, so the handler
 * keeps one exhaustive `match` over the union's typed members.
 *
 * @param schema - the union of the driver's actions, discriminated on `op`.
 * @param models - what each op models in the kernel, by name.
 * @param run - the handler of every variant.
 * @returns one op per variant, in the union's order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as z from "zod";
 * import { done, driverOpsOf } from "@dmabuf-ref/core";
 *
 * const gpuActions = z.discriminatedUnion("op", [
 *   z.strictObject({ op: z.literal("evict"), bo: z.number().int() }),
 *   z.strictObject({ op: z.literal("reset") }),
 * ]);
 * const models = { evict: "ttm_bo_evict()", reset: "amdgpu_device_gpu_recover()" };
 * const ops = driverOpsOf(gpuActions, models, (_m, w) => done(w, []));
 * assert.deepEqual(
 *   ops.map((o) => o.name),
 *   ["evict", "reset"],
 * );
 * // each op's schema fills its name in: the fields alone are a whole action
 * assert.deepEqual(ops[0]?.schema.parse({ bo: 3 }), { op: "evict", bo: 3 });
 * ```
 *
 * @category Drivers
 */
export function driverOpsOf<T extends z.ZodDiscriminatedUnion<z.ZodObject[], "op">>(
  schema: T,
  models: Readonly<Record<OpName<T>, string>>,
  run: (m: Machine, world: World, action: z.output<T>, self: string) => StepOutcome,
): readonly DriverOp<z.output<T>>[] {
  const names: readonly OpName<T>[] = Object.keys(models).filter(
    (k): k is OpName<T> => k in models,
  );
  return names.map((name) =>
    defineDriverOp({
      name,
      models: models[name],
      schema: z.preprocess(
        // Every step of such an op comes through here (its `op` was taken
        // off to find it): `withFields`, not a spread, which costs V8 about
        // a microsecond per added field.
        (fields) =>
          typeof fields === "object" && fields !== null ? withFields(fields, { op: name }) : fields,
        schema,
      ),
      run,
    }),
  );
}

/**
 * The `op` names of a union of driver actions.
 *
 * @category Drivers
 */
export type OpName<T extends z.ZodType> =
  z.output<T> extends Readonly<Record<"op", infer N>> ? N & string : never;

/**
 * A builder of one driver instance's ops, typed by its union of actions
 * (the schema given to {@link driverOpsOf}): what a driver's `pending` and
 * `candidates` and a test write, checked at compile time against the
 * fields the op takes. `step` still validates them at run time.
 *
 * @typeParam S - the driver's union of actions (the schema given to `driverOpsOf`).
 * @param driver - the driver instance's name in the machine.
 * @returns a function from an action, as written, to the core `driver` op.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as z from "zod";
 * import { actionOp } from "@dmabuf-ref/core";
 *
 * const gpuActions = z.discriminatedUnion("op", [
 *   z.strictObject({ op: z.literal("evict"), bo: z.number().int() }),
 *   z.strictObject({ op: z.literal("reset") }),
 * ]);
 * const gpuOp = actionOp<typeof gpuActions>("gpu1");
 * // `gpuOp({ op: "evict" })` would not compile: evict needs its bo
 * assert.deepEqual(gpuOp({ op: "evict", bo: 3 }), {
 *   kind: "driver",
 *   driver: "gpu1",
 *   action: { op: "evict", bo: 3 },
 * });
 * ```
 *
 * @category Drivers
 */
export function actionOp<S extends z.ZodType>(driver: string): (action: z.input<S>) => Op {
  // The schema only types the builder; validation is step's, against the registered op.
  return (action) => ({ kind: "driver", driver, action });
}
