import type * as z from "zod";
import { kernelError } from "../errors/kernel-error.js";
import type { Result } from "../errors/result.js";
import { exporterOf, isKernelError, lookupAtt, mustBuf } from "../world/access.js";
import type { World } from "../world/world.js";
import type { DriverSymbol, Machine, ProvidedSymbol } from "./machine.js";

/**
 * Defines a symbol one driver exports to named modules only: the key the
 * exporter provides it under and the importer calls it by.
 *
 * @param spec - the name, the modules allowed and the result's schema.
 * @returns the frozen key.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as z from "zod";
 * import { defineSymbol } from "@dmabuf-ref/core";
 *
 * // a function vfio-pci exports to iommufd only (EXPORT_SYMBOL_FOR_MODULES)
 * const barIndex = defineSymbol({
 *   name: "sym_bar_index",
 *   modules: ["iommufd"],
 *   result: z.number(),
 * });
 * assert.ok(Object.isFrozen(barIndex));
 * assert.deepEqual(barIndex.modules, ["iommufd"]);
 * ```
 *
 * @category Drivers
 */
export function defineSymbol<S extends z.ZodType>(spec: DriverSymbol<S>): DriverSymbol<S> {
  return Object.freeze(spec);
}

/**
 * An exporter's implementation of a symbol.
 *
 * @param key - the symbol.
 * @param fn - the implementation, for one attachment.
 * @returns what the exporter lists in its `symbols`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as z from "zod";
 * import { boot, defineSymbol, ok, provideSymbol, referenceMachine } from "@dmabuf-ref/core";
 *
 * const barIndex = defineSymbol({
 *   name: "sym_bar_index",
 *   modules: ["iommufd"],
 *   result: z.number(),
 * });
 * // what the exporter lists in its `symbols`: BAR 2 for every attachment
 * const provided = provideSymbol(barIndex, () => ok(2));
 * assert.equal(provided.name, "sym_bar_index");
 * const m = referenceMachine();
 * assert.deepEqual(provided.call(m, boot(m), 1), { ok: true, value: 2 });
 * ```
 *
 * @category Drivers
 */
export function provideSymbol<S extends z.ZodType>(
  key: DriverSymbol<S>,
  fn: (m: Machine, world: World, att: number) => Result<z.output<S>>,
): ProvidedSymbol {
  return { name: key.name, call: fn };
}

/**
 * Calls the exporter's implementation of a symbol for an attachment, as
 * the module `caller`, with the buffer's resv held by `holder`: what an
 * importer does after `symbol_get()` once it knows the dma-buf's ops are
 * the exporter's. An exporter that does not provide the symbol answers
 * `EOPNOTSUPP` ("the ops are not ours"), with `foreign` as the reason.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param att - the attachment id.
 * @param key - the symbol.
 * @param call - the calling module, the resv holder, and the reason a foreign exporter gives.
 * @returns the validated result, or the errno.
 * @throws when the module may not call the symbol, resv is not held, or the
 *   result does not fit the symbol's schema (bugs in the model's drivers).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as z from "zod";
 * import {
 *   boot,
 *   callSymbol,
 *   defineSymbol,
 *   ok,
 *   provideSymbol,
 *   referenceExporter,
 *   referenceMachine,
 *   runScript,
 * } from "@dmabuf-ref/core";
 *
 * const barIndex = defineSymbol({
 *   name: "sym_bar_index",
 *   modules: ["iommufd"],
 *   result: z.number(),
 * });
 * const symbols = [provideSymbol(barIndex, () => ok(2))];
 * const vfio = { ...referenceExporter({ name: "vfio", region: "ram0" }), symbols };
 * const m = referenceMachine({ exporters: [vfio] });
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "vfio", owner: "vfio0", args: { size: 0x1000 } },
 *   { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x1000 } },
 *   { kind: "attach", buf: 1, importer: "ref-importer", device: "dev0", dynamic: true },
 *   { kind: "attach", buf: 2, importer: "ref-importer", device: "dev0", dynamic: true },
 *   { kind: "lock", buf: 1, holder: "iommufd" },
 *   { kind: "lock", buf: 2, holder: "iommufd" },
 * ]);
 * const call = { caller: "iommufd", holder: "iommufd", foreign: "not a VFIO dma-buf" };
 * assert.deepEqual(callSymbol(m, world, 1, barIndex, call), { ok: true, value: 2 });
 * const foreign = callSymbol(m, world, 2, barIndex, call); // ref-exporter's buffer
 * assert.ok(!foreign.ok);
 * assert.equal(foreign.error.errno, "EOPNOTSUPP");
 * ```
 *
 * @category Drivers
 */
export function callSymbol<S extends z.ZodType>(
  m: Machine,
  w: World,
  att: number,
  key: DriverSymbol<S>,
  call: { readonly caller: string; readonly holder: string; readonly foreign: string },
): Result<z.output<S>> {
  if (!key.modules.includes(call.caller))
    throw new Error(`${key.name} is not exported to module ${call.caller}`);
  const a = lookupAtt(w, att);
  if (isKernelError(a)) return { ok: false, error: a };
  const b = mustBuf(w, a.buf);
  if (b.resvHolder !== call.holder) {
    // The kernel asserts this (dma_resv_assert_held); a model importer that
    // breaks it is a bug in the model, not a kernel error.
    throw new Error(`${key.name} called without resv of buf ${a.buf} held by ${call.holder}`);
  }
  const impl = exporterOf(m, b).symbols?.find((x) => x.name === key.name);
  if (impl === undefined) return { ok: false, error: kernelError("EOPNOTSUPP", call.foreign) };
  const r = impl.call(m, w, att);
  if (!r.ok) return r;
  const parsed = key.result.safeParse(r.value);
  if (!parsed.success) throw new Error(`${key.name} returned what its schema refuses`);
  return { ok: true, value: parsed.data };
}
