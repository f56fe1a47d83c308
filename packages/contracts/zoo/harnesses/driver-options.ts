/*
 * A driver that sees one of its profile options flipped while the rest of
 * the machine keeps the profile in force: how the zoo runs a fix switched
 * off ("iommufd under linux-7.1 without e745cd2c749e") without inventing a
 * profile no kernel had.
 */
import type {
  DriverOp,
  ExporterDriver,
  ImporterDriver,
  Machine,
  Profile,
  World,
} from "@dmabuf-ref/core";

/**
 * The machine a wrapped driver's own code runs in: the same hardware and
 * drivers, the original driver back under its name (so the per-instance
 * configuration its code looks up by name is found), and the profile with
 * the driver's options patched. One per machine, so the driver's own
 * caches keyed by the machine keep working.
 */
function innerMachines(
  original: ExporterDriver | ImporterDriver,
  role: "exporter" | "importer",
  key: string,
  patch: Readonly<Record<string, unknown>>,
): (m: Machine) => Machine {
  const cache = new WeakMap<Machine, Machine>();
  return (m) => {
    const hit = cache.get(m);
    if (hit !== undefined) return hit;
    const profile: Profile = {
      ...m.profile,
      drivers: { ...m.profile.drivers, [key]: { ...m.profile.drivers[key], ...patch } },
    };
    const inner: Machine = Object.freeze({
      ...m,
      profile,
      ...(role === "exporter"
        ? { exporters: new Map(m.exporters).set(original.name, original as ExporterDriver) }
        : { importers: new Map(m.importers).set(original.name, original as ImporterDriver) }),
    });
    cache.set(m, inner);
    return inner;
  };
}

/** The driver's ops, each running the original's handler in the inner machine. */
function wrapOps(
  ops: readonly DriverOp[] | undefined,
  inner: (m: Machine) => Machine,
): readonly DriverOp[] | undefined {
  return ops?.map((op) => ({
    name: op.name,
    models: op.models,
    schema: op.schema,
    run: (m, w, args, self) => op.run(inner(m), w, args, self),
  }));
}

/**
 * An importer that reads its profile options with `patch` applied: every
 * callback and op of `driver` runs in a machine whose profile has
 * `drivers[key]` patched, while core and every other driver keep the
 * machine's own profile. Any other property of `driver` (its slices, a
 * configuration it carries) is kept as is.
 *
 * @param driver - the importer (e.g. `iommufdImporter()`).
 * @param key - its entry in `Profile.drivers` (e.g. `"iommufd"`).
 * @param patch - the options to override (e.g. `{ releaseUnpinsUnderResv: false }`).
 * @returns the wrapped importer, under the same name.
 *
 * @example
 * ```ts
 * const buggy = importerWithOptions(iommufdImporter(), "iommufd", {
 *   releaseUnpinsUnderResv: false,
 * });
 * ```
 */
export function importerWithOptions(
  driver: ImporterDriver,
  key: string,
  patch: Readonly<Record<string, unknown>>,
): ImporterDriver {
  const inner = innerMachines(driver, "importer", key, patch);
  const d = driver;
  const invalidateMappings = d.invalidateMappings?.bind(d);
  const pending = d.pending?.bind(d);
  const candidates = d.candidates?.bind(d);
  const ops = wrapOps(d.ops, inner);
  return Object.freeze({
    ...d,
    accepts: (m, w, req) => d.accepts(inner(m), w, req),
    ...(invalidateMappings && {
      invalidateMappings: (m, w, att) => invalidateMappings(inner(m), w, att),
    }),
    ...(pending && { pending: (m, w) => pending(inner(m), w) }),
    ...(candidates && { candidates: (m, w) => candidates(inner(m), w) }),
    ...(ops && { ops }),
  } satisfies ImporterDriver);
}

/**
 * An exporter that reads its profile options with `patch` applied (see
 * {@link importerWithOptions}): every callback, symbol and op of `driver`
 * runs in a machine whose profile has `drivers[key]` patched.
 *
 * @param driver - the exporter (e.g. `vfioPciExporter(...)`).
 * @param key - its entry in `Profile.drivers` (e.g. `"vfio-pci"`).
 * @param patch - the options to override (e.g. `{ unrevokeInvalidates: false }`).
 * @returns the wrapped exporter, under the same name.
 */
export function exporterWithOptions(
  driver: ExporterDriver,
  key: string,
  patch: Readonly<Record<string, unknown>>,
): ExporterDriver {
  const inner = innerMachines(driver, "exporter", key, patch);
  const d = driver;
  const create = d.export?.bind(d);
  const revokeWaitsForUnmap = d.revokeWaitsForUnmap?.bind(d);
  const attach = d.attach?.bind(d);
  const detach = d.detach?.bind(d);
  const pin = d.pin?.bind(d);
  const unpin = d.unpin?.bind(d);
  const mmap = d.mmap?.bind(d);
  const mmapRegion = d.mmapRegion?.bind(d);
  const pending = d.pending?.bind(d);
  const candidates = d.candidates?.bind(d);
  const symbols = d.symbols;
  const ops = wrapOps(d.ops, inner);
  return Object.freeze({
    ...d,
    offers: (m, w, buf) => d.offers(inner(m), w, buf),
    map: (m, w, att) => d.map(inner(m), w, att),
    unmap: (m, w, att, mapping) => d.unmap(inner(m), w, att, mapping),
    release: (m, w, buf) => d.release(inner(m), w, buf),
    ...(create && { export: (m, w, owner, args) => create(inner(m), w, owner, args) }),
    ...(revokeWaitsForUnmap && {
      revokeWaitsForUnmap: (m) => revokeWaitsForUnmap(inner(m)),
    }),
    ...(attach && { attach: (m, w, att) => attach(inner(m), w, att) }),
    ...(detach && { detach: (m, w, att) => detach(inner(m), w, att) }),
    ...(pin && { pin: (m, w, att) => pin(inner(m), w, att) }),
    ...(unpin && { unpin: (m, w, att) => unpin(inner(m), w, att) }),
    ...(mmap && { mmap: (m, w, buf, req) => mmap(inner(m), w, buf, req) }),
    ...(mmapRegion && {
      mmapRegion: (m, w, device, index) => mmapRegion(inner(m), w, device, index),
    }),
    ...(pending && { pending: (m, w) => pending(inner(m), w) }),
    ...(candidates && { candidates: (m, w) => candidates(inner(m), w) }),
    ...(symbols && {
      symbols: symbols.map((s) => ({
        name: s.name,
        call: (m: Machine, w: World, att: number) => s.call(inner(m), w, att),
      })),
    }),
    ...(ops && { ops }),
  } satisfies ExporterDriver);
}
