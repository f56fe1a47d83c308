/*
 * The shape of the zoo's wrong reference exporters: core's reference
 * exporter with one continuation of its own that it owes at the wrong
 * moment, which the explorer interleaves with core's revoke sequence.
 */
import { defineDriver, driverOpCall, referenceExporter } from "@dmabuf-ref/core";
import type { DriverOp, ExporterDriver, World } from "@dmabuf-ref/core";

/**
 * Core's reference exporter plus one continuation: every callback is the
 * reference exporter's, and `pending` lists `op` once per argument `due`
 * gives in a world.
 *
 * @param opts - the RAM region it allocates from, and whether it has the
 *   iommufd selftest mock's private hook (`referenceExporter`'s options).
 * @param op - the extra op (the bug), given the driver's name.
 * @param due - the arguments of the calls owed in a world.
 * @returns the exporter, named `ref-exporter`.
 */
export function referenceExporterWith<A, I extends object>(
  opts: { readonly region: string; readonly selftestHook?: boolean },
  op: (name: string) => DriverOp<A, I>,
  due: (w: World, name: string) => readonly I[],
): ExporterDriver {
  const right = referenceExporter(opts);
  const name = right.name;
  const extra = op(name);
  return defineDriver({
    role: "exporter",
    name,
    slices: {},
    ops: [extra],
    callbacks: {
      // Every callback is the reference exporter's (defineDriver supplies
      // the name, slices and ops itself).
      ...right,
      pending: (_m, w) => due(w, name).map((args) => driverOpCall(name, extra, args)),
    },
  });
}
