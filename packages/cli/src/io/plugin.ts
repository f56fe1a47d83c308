/*
 * The plugin a module hands to `dmabuf-ref --load MODULE`: mapping types,
 * profiles, the hardware its drivers need and the drivers themselves, each
 * defined outside the repository through core's public API. Validated with
 * zod when the module is loaded (the boundary), so a bad module is one
 * line naming the field, never a stack trace from deep inside a command.
 */
import { fabricDeviceSchema, hostBridgeSchema, regionSchema, switchSchema } from "@dmabuf-ref/core";
import type { AnyMappingType, ExporterDriver, ImporterDriver, Profile } from "@dmabuf-ref/core";
import * as z from "zod";

/**
 * A schema that checks a value's shape with `shape` but hands back the
 * value itself, not zod's copy: mapping types and profiles compare by
 * identity (a profile lists the very type object an offer carries), so a
 * validated copy would never match.
 */
function sameObject<T>(shape: z.ZodType, what: string): z.ZodType<T> {
  return z.custom<T>().superRefine((v, ctx) => {
    if (typeof v !== "object" || v === null) {
      ctx.addIssue({ code: "custom", message: `expected ${what}` });
      return;
    }
    const r = shape.safeParse(v);
    if (!r.success)
      for (const issue of r.error.issues)
        ctx.addIssue({ code: "custom", message: issue.message, path: issue.path });
  });
}

const fn = (message: string): z.ZodType<(...args: never[]) => unknown> =>
  z.custom<(...args: never[]) => unknown>((v) => typeof v === "function", { message });

/**
 * A schema object as core uses it (`safeParse`), checked by shape, not
 * `instanceof`: the plugin may carry its own copy of zod.
 */
const schemaLike = z.looseObject(
  { safeParse: fn("expected a zod schema") },
  {
    message: "expected a zod schema",
  },
);

/** What `defineMappingType` returns, as far as the CLI relies on it. */
const mappingTypeShape = z.looseObject({
  id: z.string().regex(/^[a-z][a-z0-9-]*$/, "a type id is lower-case words joined by dashes"),
  name: z.string().min(1),
  exporterData: schemaLike,
  importerData: schemaLike,
  payload: schemaLike,
  describe: fn("expected describe(payload) => string"),
});

/** What `defineProfile` returns, as far as the CLI relies on it. */
const profileShape = z.looseObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9.-]*$/, "a profile id is lower case, digits, . and -"),
  title: z.string(),
  summary: z.string(),
  negotiation: z.enum(["none", "mapping-types"]),
  mappingTypes: z.array(z.looseObject({ id: z.string() })),
  converters: z.array(z.looseObject({ id: z.string() })),
  rules: z.looseObject({}),
  drivers: z.record(z.string(), z.looseObject({})),
  notes: z.array(z.string()),
});

/**
 * The hardware a plugin's drivers need, added to every machine the CLI
 * builds (the matrix's and each scenario or replay file's `machine:`): a
 * fragment of core's topology (`regions`, `devices`, `switches`,
 * `hostBridges`). A device without a `switch` gets one of its own
 * (`<id>.sw`) below the machine's first host bridge, as a `machine:`
 * description's devices do.
 *
 * @category Commands
 */
export const pluginHardwareSchema = z.strictObject({
  /**
   * Memory the drivers carve buffers from (core's `regionSchema`: `id`,
   * `kind`, `base`, `size`, `device`). Place them at 16 TiB or above, so
   * they never overlap the BARs a `machine:` description places.
   */
  regions: z.array(regionSchema).default([]),
  /** DMA-capable functions (core's `fabricDeviceSchema`, `switch` optional). */
  devices: z
    .array(
      fabricDeviceSchema.extend({
        /** The switch it sits below; absent: `<id>.sw` below the first host bridge. */
        switch: z.string().min(1).optional(),
      }),
    )
    .default([]),
  /** PCIe switches (core's `switchSchema`). */
  switches: z.array(switchSchema).default([]),
  /** Host bridges (core's `hostBridgeSchema`). */
  hostBridges: z.array(hostBridgeSchema).default([]),
});

/**
 * A plugin's hardware as written (validated by {@link pluginHardwareSchema}).
 *
 * @category Commands
 */
export interface PluginHardware {
  /**
   * Memory regions (`id`, `kind`, `base`, `size`, `device`): what a driver
   * carves buffers from. Place them at 16 TiB or above.
   */
  readonly regions?: readonly z.input<typeof regionSchema>[];
  /** DMA-capable functions; a device without `switch` gets `<id>.sw` below the first host bridge. */
  readonly devices?: readonly {
    /** The device's id, e.g. `"ual0"`. */
    readonly id: string;
    /** The switch it sits below. */
    readonly switch?: string;
    /** Its DMA goes through the IOMMU (default true). */
    readonly iommu?: boolean;
  }[];
  /** PCIe switches (`id`, `hostBridge`, `acsRedirect`). */
  readonly switches?: readonly z.input<typeof switchSchema>[];
  /** Host bridges (`id`, `p2p`). */
  readonly hostBridges?: readonly z.input<typeof hostBridgeSchema>[];
}

/**
 * A plugin's hardware, validated (addresses as bigints, defaults filled in).
 *
 * @category Commands
 */
export type PluginHardwareSpec = z.output<typeof pluginHardwareSchema>;

/** A driver name: what `{ op: export, exporter: NAME }` and a driver op's `driver` say. */
const driverNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_.-]*$/, "a driver name is lower case, digits, _ . and -");

/**
 * An exporter a plugin adds (a `struct dma_buf_ops` provider): its name,
 * how to build it for a profile, and how the matrix exports one buffer
 * with it.
 *
 * @category Commands
 */
export const exporterPluginSchema = z.strictObject({
  /** The driver's name; `driver(profile).name` must be the same. */
  name: driverNameSchema,
  /**
   * Builds the driver for the profile in force, once per machine (a
   * driver reads its profile options with core's `driverOptions`).
   */
  driver: z.custom<(profile: Profile) => ExporterDriver>((v) => typeof v === "function", {
    message: "expected a function (profile) => ExporterDriver",
  }),
  /**
   * The matrix row: one buffer exported with core's `export` op (`{ kind:
   * "export", exporter: name, owner, args }`). Absent: not a matrix row.
   */
  matrix: z
    .strictObject({
      /** The exporting device or instance, e.g. a device of the plugin's hardware. */
      owner: z.string().min(1),
      /** The driver's export arguments. */
      args: z.unknown(),
      /** The exporter moves memory (TTM eviction): a revocable importer is then movable. */
      moves: z.boolean().default(false),
    })
    .optional(),
});

/**
 * An exporter a plugin adds, as written (validated by
 * {@link exporterPluginSchema}): the model of a `struct dma_buf_ops`
 * provider defined outside the repository.
 *
 * @category Commands
 */
export interface ExporterPlugin {
  /** The driver's name; `driver(profile).name` must be the same. */
  readonly name: string;
  /**
   * Builds the driver for the profile in force, once per machine.
   *
   * @param profile - the profile the machine runs under.
   */
  driver(profile: Profile): ExporterDriver;
  /** The matrix row: core's `export` op with this owner and these arguments. Absent: no row. */
  readonly matrix?: {
    /** The exporting device or instance. */
    readonly owner: string;
    /** The driver's export arguments. */
    readonly args?: unknown;
    /** The exporter moves memory (default false). */
    readonly moves?: boolean;
  };
}

/**
 * An importer a plugin adds (a `struct dma_buf_attach_ops` provider): its
 * name, how to build it for a profile, and which device the matrix
 * imports with.
 *
 * @category Commands
 */
export const importerPluginSchema = z.strictObject({
  /** The driver's name; `driver(profile).name` must be the same. */
  name: driverNameSchema,
  /** Builds the driver for the profile in force, once per machine. */
  driver: z.custom<(profile: Profile) => ImporterDriver>((v) => typeof v === "function", {
    message: "expected a function (profile) => ImporterDriver",
  }),
  /**
   * The matrix column: a dynamic `dma_buf_attach` from `device`, then the
   * first map under the buffer's resv (lock, map, unlock), as a revocable
   * importer does. Absent: not a matrix column.
   */
  matrix: z
    .strictObject({
      /** The importing DMA device (null: none, as KVM). */
      device: z.string().min(1).nullable(),
    })
    .optional(),
});

/**
 * An importer a plugin adds, as written (validated by
 * {@link importerPluginSchema}): the model of a `struct
 * dma_buf_attach_ops` provider defined outside the repository.
 *
 * @category Commands
 */
export interface ImporterPlugin {
  /** The driver's name; `driver(profile).name` must be the same. */
  readonly name: string;
  /**
   * Builds the driver for the profile in force, once per machine.
   *
   * @param profile - the profile the machine runs under.
   */
  driver(profile: Profile): ImporterDriver;
  /** The matrix column: a dynamic attach from `device`, then a first map under resv. Absent: no column. */
  readonly matrix?: {
    /** The importing DMA device (null: none, as KVM). */
    readonly device: string | null;
  };
}

/**
 * zod schema of a plugin: what a `--load` module exports as `plugin` (or
 * as its default export). Mapping types and profiles are checked for the
 * fields the CLI reads and kept as the very objects given.
 *
 * @category Commands
 */
export const pluginSchema = z.strictObject({
  /** The plugin's name, for messages; unique among the loaded plugins. */
  name: z.string().min(1),
  /**
   * Mapping types (`defineMappingType`) an offers or accepts file of
   * `negotiate` may name by id; the types the plugin's profiles list are
   * resolvable too.
   */
  mappingTypes: z.array(sameObject<AnyMappingType>(mappingTypeShape, "a mapping type")).default([]),
  /**
   * Profiles (`defineProfile`) every command resolves by `--profile ID`
   * (and a scenario or replay file by `profile:`).
   */
  profiles: z.array(sameObject<Profile>(profileShape, "a profile")).default([]),
  /** The hardware the plugin's drivers need (see {@link pluginHardwareSchema}). */
  hardware: pluginHardwareSchema.optional(),
  /** Exporter drivers, added to every machine the CLI builds. */
  exporters: z.array(exporterPluginSchema).default([]),
  /** Importer drivers, added to every machine the CLI builds. */
  importers: z.array(importerPluginSchema).default([]),
  /**
   * Scenario files (a `URL`, or a path: a relative one is the module's
   * sibling) that `scenario --list` lists and `scenario NAME` runs.
   */
  scenarios: z.array(z.union([z.string().min(1), z.instanceof(URL)])).default([]),
});

/**
 * A plugin for `dmabuf-ref --load MODULE`: what a module defined outside
 * the repository adds to the CLI (DESIGN §3.1's extension path, driven
 * from the command line). Validated by {@link pluginSchema}.
 *
 * @category Commands
 */
export interface DmabufRefPlugin {
  /** The plugin's name, for messages; unique among the loaded plugins. */
  readonly name: string;
  /** Mapping types (`defineMappingType`) an offers or accepts file may name by id. */
  readonly mappingTypes?: readonly AnyMappingType[];
  /** Profiles (`defineProfile`) every command resolves by `--profile ID`. */
  readonly profiles?: readonly Profile[];
  /** The hardware the plugin's drivers need, added to every machine. */
  readonly hardware?: PluginHardware;
  /** Exporter drivers, added to every machine. */
  readonly exporters?: readonly ExporterPlugin[];
  /** Importer drivers, added to every machine. */
  readonly importers?: readonly ImporterPlugin[];
  /** Scenario files (a URL, or a path beside the module) `scenario --list` lists. */
  readonly scenarios?: readonly (string | URL)[];
}

/**
 * A validated plugin: defaults filled in, hardware addresses as bigints.
 *
 * @category Commands
 */
export type PluginSpec = z.output<typeof pluginSchema>;

/**
 * The first problem with a plugin, as `plugin.<field>: <message>`.
 *
 * @param error - zod's error.
 * @returns one line.
 */
export function pluginIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  const path = (issue?.path ?? [])
    .map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`))
    .join("");
  return `plugin${path}: ${issue?.message ?? "invalid"}`;
}

/**
 * Declares a plugin for `dmabuf-ref --load`, checking it when the module
 * is loaded: an identity function that gives the object its type and
 * fails early, naming the field, when it is malformed.
 *
 * @param plugin - the plugin.
 * @returns the same object.
 * @throws TypeError naming the first bad field (`plugin.exporters[0].driver: ...`).
 *
 * @example
 * ```ts
 * import { definePlugin } from "@dmabuf-ref/cli";
 * import { linux71, defineProfile, referenceImporter } from "@dmabuf-ref/core";
 *
 * export const plugin = definePlugin({
 *   name: "example",
 *   profiles: [defineProfile({ ...linux71, id: "example-7.1", title: "7.1, renamed" })],
 *   importers: [{ name: "ex-importer", driver: () => referenceImporter({ name: "ex-importer" }) }],
 * });
 * ```
 * @category Commands
 */
export function definePlugin<P extends DmabufRefPlugin>(plugin: P): P {
  const r = pluginSchema.safeParse(plugin);
  if (!r.success) throw new TypeError(pluginIssue(r.error));
  return plugin;
}
