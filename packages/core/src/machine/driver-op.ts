import * as z from "zod";
import type { Op } from "../lifetime/op.js";
import type { StepOutcome } from "../lifetime/outcome.js";
import type { World } from "../world/world.js";
import type { DriverOp, Machine } from "./machine.js";

/**
 * Declares a driver op with a typed handler (see {@link DriverOp}).
 *
 * @param def - the name, what it models, the fields' schema and the handler.
 * @returns the op, ready for a driver's `ops` table.
 *
 * @example
 * ```ts
 * const flr = defineDriverOp({
 *   name: "flr",
 *   models: "pci_reset_function() from a guest's config write",
 *   schema: z.strictObject({ device: deviceIdSchema }),
 *   run: (m, w, { device }, self) => startFlr(m, w, self, device),
 * });
 * ```
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
 */
export function driverOpCall<A, I extends object>(
  driver: string,
  def: DriverOp<A, I>,
  fields: I,
): Op {
  return { kind: "driver", driver, action: { ...fields, op: def.name } };
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
 * ops: driverOpsOf(gpuActionSchema, { evict: "ttm_bo_evict()", ... }, (m, w, a) => gpuAct(m, w, a)),
 * ```
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
        (fields) =>
          typeof fields === "object" && fields !== null ? { ...fields, op: name } : fields,
        schema,
      ),
      run,
    }),
  );
}

/** The `op` names of a union of driver actions. */
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
 * const kvmOp = actionOp<typeof kvmActionSchema>("kvm");
 * step(m, w, kvmOp({ op: "guest-fault", slot: 1, gfn: 0x100000n }));
 * ```
 */
export function actionOp<S extends z.ZodType>(driver: string): (action: z.input<S>) => Op {
  // The schema only types the builder; validation is step's, against the registered op.
  return (action) => ({ kind: "driver", driver, action });
}
