import * as z from "zod";
import { u64Schema } from "../schemas.js";
import type { Machine } from "../machine/machine.js";
import type { Op } from "./op.js";
import { CORE_OP_KINDS } from "./op.js";
import { withFields } from "../encoding/record-with.js";
import { MM_OPS, mmProviders } from "../mm/driver.js";

/** `{ op, ...fields }` -> `{ kind: op, ...fields }`: the plain form's name is the op's kind. */
function kindOf<T extends { readonly op: string }>({
  op,
  ...fields
}: T): {
  /** The op's kind: the `op` field of its plain form. */
  kind: T["op"];
} & Omit<T, "op"> {
  return { kind: op, ...fields };
}

/** An id a caller names: a table key (buffer = fd, attachment, job, task). */
const idSchema = z.number().int().min(0).max(0x3fff_ffff);
/** Who holds (or claims to hold) a reservation lock, as traces name it. */
const holderSchema = z.string().min(1);
const dirSchema = z.enum(["read", "write"]);

/**
 * The plain-data form of every core {@link Op}: `{ op: NAME, ...fields }`,
 * with NAME the op's `kind` (`attach`, `map`, `dma`, `revoke`, ...), the
 * form a scenario or replay file names an op in. Fields are checked to
 * their type (ids are non-negative integers, addresses and lengths u64);
 * whether they name *live* objects is for `step` to answer with the
 * kernel's errno, never a throw.
 *
 * @category Lifetime
 */
export const plainOpSchema = z.discriminatedUnion("op", [
  z
    .strictObject({
      /** `dma_buf_export()` by an exporter driver. */
      op: z.literal("export"),
      /** The exporter driver's name. */
      exporter: z.string().min(1),
      /** The exporting device or instance. */
      owner: z.string().min(1),
      /** The driver's export arguments, validated by the driver. */
      args: z.unknown(),
    })
    .transform(kindOf),
  z
    .strictObject({
      /** `dma_buf_dynamic_attach()` or `dma_buf_attach()`. */
      op: z.literal("attach"),
      /** The dma-buf. */
      buf: idSchema,
      /** The importer driver's name. */
      importer: z.string().min(1),
      /** The importing DMA device, or null (KVM). */
      device: z.string().nullable(),
      /** Dynamic (importer ops) or static. */
      dynamic: z.boolean(),
    })
    .transform(kindOf),
  z
    .strictObject({
      /** `dma_buf_detach()`. */
      op: z.literal("detach"),
      /** The attachment. */
      att: idSchema,
    })
    .transform(kindOf),
  z
    .strictObject({
      /** `dma_resv_lock()` / `dma_resv_unlock()`. */
      op: z.enum(["lock", "unlock"]),
      /** The dma-buf. */
      buf: idSchema,
      /** Who takes or drops the lock. */
      holder: holderSchema,
    })
    .transform(kindOf),
  z
    .strictObject({
      /** `dma_buf_map_attachment()` / `dma_buf_unmap_attachment()` (null holder: `_unlocked`). */
      op: z.enum(["map", "unmap"]),
      /** The attachment. */
      att: idSchema,
      /** The resv holder, or null. */
      holder: holderSchema.nullable(),
      /** The importer's request for a map through a converter. */
      args: z.unknown().optional(),
    })
    .transform(kindOf),
  z
    .strictObject({
      /** `dma_buf_pin()` / `dma_buf_unpin()`. */
      op: z.enum(["pin", "unpin"]),
      /** The attachment. */
      att: idSchema,
      /** The resv holder. */
      holder: holderSchema,
    })
    .transform(kindOf),
  z
    .strictObject({
      /** A device starts fenced DMA through a mapping. */
      op: z.literal("dma-submit"),
      /** The attachment. */
      att: idSchema,
      /** The DMA address. */
      addr: u64Schema,
      /** Bytes per access. */
      len: u64Schema,
      /** Read or write. */
      dir: dirSchema,
      /** The resv holder adding the fence. */
      holder: holderSchema,
    })
    .transform(kindOf),
  z
    .strictObject({
      /** A submitted job accesses memory, or its fence signals. */
      op: z.enum(["dma-access", "signal"]),
      /** The job. */
      job: idSchema,
    })
    .transform(kindOf),
  z
    .strictObject({
      /** One unfenced device access. */
      op: z.literal("dma"),
      /** The device. */
      device: z.string().min(1),
      /** The address it issues. */
      addr: u64Schema,
      /** Bytes. */
      len: u64Schema,
      /** Read or write. */
      dir: dirSchema,
    })
    .transform(kindOf),
  z
    .strictObject({
      /** The exporter's revoke sequence. */
      op: z.literal("revoke"),
      /** The dma-buf. */
      buf: idSchema,
      /** Permanent (close, unbind) or temporary. */
      permanent: z.boolean(),
      /** Who revokes. */
      by: z.string().min(1),
    })
    .transform(kindOf),
  z
    .strictObject({
      /** The exporter's un-revoke sequence. */
      op: z.literal("unrevoke"),
      /** The dma-buf. */
      buf: idSchema,
      /** Who un-revokes. */
      by: z.string().min(1),
    })
    .transform(kindOf),
  z
    .strictObject({
      /** The next step of a revoke or un-revoke task. */
      op: z.literal("task"),
      /** The task. */
      task: idSchema,
    })
    .transform(kindOf),
  z
    .strictObject({
      /** `close()` of a dma-buf fd. */
      op: z.literal("close"),
      /** The dma-buf (its fd). */
      buf: idSchema,
    })
    .transform(kindOf),
  z
    .strictObject({
      /** Memory of a region goes away or comes back. */
      op: z.literal("region"),
      /** The region's name. */
      region: z.string().min(1),
      /** The new state. */
      status: z.enum(["live", "inaccessible"]),
      /** Who does it. */
      by: z.string().min(1),
    })
    .transform(kindOf),
]);

/**
 * The plain-data form of an op, as written (see {@link plainOpSchema}).
 *
 * @category Lifetime
 */
export type PlainOp = z.input<typeof plainOpSchema>;

/**
 * What {@link parseOp} returns: the op, or the zod error saying what is wrong.
 *
 * @category Lifetime
 */
export type OpParse =
  | {
      /** It parsed. */
      readonly success: true;
      /** The op. */
      readonly data: Op;
    }
  | {
      /** It did not. */
      readonly success: false;
      /** Which field, and why. */
      readonly error: z.ZodError;
    };

/**
 * Reads an op written as plain data, `{ op: NAME, ...fields }`: a core op
 * (NAME is its kind) or one of the machine's driver ops, with `driver`
 * naming the driver instance when more than one registers NAME.
 *
 * @param m - the machine whose drivers' ops may be named.
 * @param data - the op as a file or a test states it.
 * @returns the op, or the zod issues (unknown op, ambiguous driver, missing
 *   or mistyped field, extra key).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseOp, referenceMachine } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const r = parseOp(m, { op: "revoke", buf: 1, permanent: false, by: "exp0 FLR" });
 * assert.ok(r.success);
 * assert.deepEqual(r.data, { kind: "revoke", buf: 1, permanent: false, by: "exp0 FLR" });
 * // `submit` is no core op: the reference importer registers it
 * const submit = parseOp(m, { op: "submit", att: 1, len: 0x1000n, dir: "write" });
 * assert.ok(submit.success);
 * assert.equal(submit.data.kind, "driver");
 * // a field that does not fit is the parse's error, never the kernel's
 * assert.equal(parseOp(m, { op: "close", buf: -1 }).success, false);
 * ```
 *
 * @category Lifetime
 */
export function parseOp(m: Machine, data: unknown): OpParse {
  if (typeof data !== "object" || data === null || !("op" in data) || typeof data.op !== "string")
    return plainOpSchema.safeParse(data);
  const { op: name, driver, ...fields } = data as { op: string; driver?: unknown };
  // The built-in mm driver's syscalls are every machine's ops, beside the drivers'.
  const own = [...(m.driverOps.get(name) ?? []), ...mmProviders(name)];
  const providers = own.length === 0 ? undefined : own;
  if (providers === undefined) {
    if (!CORE_NAMES.has(name)) {
      const known = [
        ...CORE_OP_KINDS.filter((k) => k !== "driver"),
        ...m.driverOps.keys(),
        ...MM_OPS.map((o) => o.name),
      ];
      return issue(data, ["op"], `unknown op ${name}; this machine has: ${known.join(", ")}`);
    }
    return plainOpSchema.safeParse(data);
  }
  const chosen =
    driver === undefined
      ? providers.length === 1
        ? providers[0]
        : undefined
      : providers.find((p) => p.driver === driver);
  if (chosen === undefined) {
    const names = providers.map((p) => p.driver).join(", ");
    return driver === undefined
      ? issue(data, ["driver"], `op ${name} is registered by ${names}: name the driver`)
      : issue(
          data,
          ["driver"],
          `op ${name} is registered by ${names}, not ${JSON.stringify(driver)}`,
        );
  }
  const args = chosen.def.schema.safeParse(fields);
  if (!args.success) return { success: false, error: args.error };
  const action: Record<string, unknown> = withFields(args.data as object, { op: name });
  return { success: true, data: { kind: "driver", driver: chosen.driver, action } };
}

const CORE_NAMES = new Set<string>(CORE_OP_KINDS);

function issue(input: unknown, path: readonly string[], message: string): OpParse {
  return {
    success: false,
    error: new z.ZodError([{ code: "custom", path: [...path], message, input }]),
  };
}

/**
 * An op as plain data, `{ op: NAME, ...fields }`: the inverse of
 * {@link parseOp}. A driver op keeps its `driver`, so the form is
 * unambiguous on any machine.
 *
 * @param o - the op.
 * @returns its plain form.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { plainOp } from "@dmabuf-ref/core";
 *
 * assert.deepEqual(plainOp({ kind: "close", buf: 1 }), { op: "close", buf: 1 });
 * // a driver op keeps its driver, so the plain form reads back on any machine
 * assert.deepEqual(
 *   plainOp({ kind: "driver", driver: "ref-importer", action: { op: "release", att: 1 } }),
 *   { op: "release", att: 1, driver: "ref-importer" },
 * );
 * ```
 *
 * @category Lifetime
 */
export function plainOp(o: Op): Record<string, unknown> {
  if (o.kind === "driver") {
    const action = typeof o.action === "object" && o.action !== null ? o.action : {};
    return withFields(action, { driver: o.driver });
  }
  const { kind, ...fields } = o;
  return { op: kind, ...fields };
}
