/*
 * `--load MODULE`: importing a plugin module, validating what it exports
 * and merging every loaded plugin into one set the commands read (types,
 * profiles, drivers, hardware, scenarios), with every name checked
 * against the built-ins and the other plugins.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, extname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { BUILTIN_MAPPING_TYPES } from "@dmabuf-ref/core";
import type { AnyMappingType, Profile } from "@dmabuf-ref/core";
import * as z from "zod";
import { scenarioFiles } from "../explore/catalogue.js";
import { BUILT_IN_DRIVER_NAMES } from "../replay/machine.js";
import { KNOWN_PROFILES } from "./known-profiles.js";
import { pluginIssue, pluginSchema } from "./plugin.js";
import type { PluginHardwareSpec, PluginSpec } from "./plugin.js";
import { UsageError } from "./usage-error.js";

/**
 * A validated exporter plugin and the plugin it came from.
 *
 * @category Commands
 */
export type LoadedExporter = PluginSpec["exporters"][number] & {
  /** The plugin's name, for messages. */
  readonly plugin: string;
};

/**
 * A validated importer plugin and the plugin it came from.
 *
 * @category Commands
 */
export type LoadedImporter = PluginSpec["importers"][number] & {
  /** The plugin's name, for messages. */
  readonly plugin: string;
};

/**
 * A scenario file a plugin ships.
 *
 * @category Scenarios
 */
export interface PluginScenario {
  /** Its name (the file's, without `.yaml`, `.yml` or `.json`). */
  readonly name: string;
  /** Its path. */
  readonly path: string;
}

/**
 * One hardware fragment and the plugin it came from.
 *
 * @category Commands
 */
export interface LoadedHardware {
  /** The plugin's name, for messages. */
  readonly plugin: string;
  /** Its hardware. */
  readonly hardware: PluginHardwareSpec;
}

/**
 * Everything the `--load` modules of one command line add, merged: what
 * the commands read instead of the built-ins alone.
 *
 * @category Commands
 */
export interface PluginSet {
  /** The modules as absolute file URLs, in command-line order (an explore worker reloads them). */
  readonly modules: readonly string[];
  /** The plugins' names, in the same order. */
  readonly names: readonly string[];
  /** Mapping types resolvable by id in offers and accepts files (those of the profiles too). */
  readonly mappingTypes: readonly AnyMappingType[];
  /** Profiles resolvable by `--profile`. */
  readonly profiles: readonly Profile[];
  /** Exporter drivers added to every machine. */
  readonly exporters: readonly LoadedExporter[];
  /** Importer drivers added to every machine. */
  readonly importers: readonly LoadedImporter[];
  /** Hardware added to every machine. */
  readonly hardware: readonly LoadedHardware[];
  /** Scenario files `scenario --list` lists after the shipped ones. */
  readonly scenarios: readonly PluginScenario[];
}

/**
 * No `--load`: the built-ins alone.
 *
 * @category Commands
 */
export const NO_PLUGINS: PluginSet = Object.freeze({
  modules: [],
  names: [],
  mappingTypes: [],
  profiles: [],
  exporters: [],
  importers: [],
  hardware: [],
  scenarios: [],
});

export { BUILT_IN_DRIVER_NAMES };

/** The parts of tsx's API a `.ts` module is loaded with outside tsx. */
const tsxApiSchema = z.object({
  /** Registers tsx's loader hooks in this process (tsx >= 4). */
  register: z.custom<() => unknown>((v) => typeof v === "function"),
});

/** Where tsx's package.json says its ESM API is (`exports["./esm/api"].import`). */
const tsxPackageSchema = z.object({
  /** The exports map. */
  exports: z.object({
    /** The API's entry points by condition. */
    "./esm/api": z.object({
      /** The ESM entry (its `default`). */
      import: z.union([z.string(), z.object({ default: z.string() })]),
    }),
  }),
});

const TS_EXTENSIONS = new Set([".ts", ".mts", ".cts", ".tsx"]);

/**
 * The URL of tsx's ESM API as installed below `base`'s directory, or
 * undefined. `require.resolve` would pick the CommonJS entry, whose
 * `register` cannot start tsx's ESM hooks, so the package's exports map
 * is read for the `import` entry.
 */
function tsxApiBelow(base: string): string | undefined {
  let pkg: string;
  try {
    pkg = createRequire(base).resolve("tsx/package.json");
  } catch {
    return undefined;
  }
  const parsed = tsxPackageSchema.safeParse(JSON.parse(readFileSync(pkg, "utf8")));
  if (!parsed.success) return undefined;
  const entry = parsed.data.exports["./esm/api"].import;
  return pathToFileURL(join(dirname(pkg), typeof entry === "string" ? entry : entry.default)).href;
}

/**
 * Registers tsx in this process so the next `import()` of a TypeScript
 * file works: tsx found from the working directory (the user's project)
 * or from the CLI's own installation. Registering globally rather than
 * with `tsImport` keeps one module graph, so the plugin's
 * `@dmabuf-ref/core` is the CLI's (types and codecs compare by identity).
 *
 * @param cwd - the working directory.
 * @returns whether tsx was found and registered.
 */
async function registerTsx(cwd: string): Promise<boolean> {
  for (const base of [join(cwd, "package.json"), fileURLToPath(import.meta.url)]) {
    const url = tsxApiBelow(base);
    if (url === undefined) continue;
    const api = tsxApiSchema.safeParse(await import(url));
    if (!api.success) continue;
    api.data.register();
    return true;
  }
  return false;
}

/** Whether `import()` failed because Node cannot run a TypeScript file here. */
function cannotRunTypeScript(e: unknown): boolean {
  const code = typeof e === "object" && e !== null && "code" in e ? e.code : undefined;
  return (
    code === "ERR_UNKNOWN_FILE_EXTENSION" || code === "ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING"
  );
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/**
 * Imports one `--load` module.
 *
 * @param module - the path as given.
 * @param cwd - what a relative path is resolved against.
 * @returns the module's namespace and its file URL.
 * @throws {@link UsageError} when the file is missing or does not load.
 */
async function importModule(
  module: string,
  cwd: string,
): Promise<{ namespace: unknown; url: string }> {
  // An explore worker gets the modules back as the file URLs they loaded from.
  const path = module.startsWith("file:") ? fileURLToPath(module) : resolve(cwd, module);
  if (!existsSync(path) || !statSync(path).isFile())
    throw new UsageError(`--load ${module}: no such file (${path})`);
  const url = pathToFileURL(path).href;
  try {
    return { namespace: (await import(url)) as unknown, url };
  } catch (e) {
    if (!TS_EXTENSIONS.has(extname(path)) || !cannotRunTypeScript(e))
      throw new UsageError(`--load ${module}: cannot load: ${firstLine(message(e))}`);
  }
  // Node without tsx: register it (if installed) and try again.
  if (!(await registerTsx(cwd)))
    throw new UsageError(
      `--load ${module}: a TypeScript module needs tsx (npm install tsx, or run under ` +
        `node --import tsx), or compile it to .js`,
    );
  try {
    // Node keeps the failed import of `url`: ask for the file under a new URL.
    return { namespace: (await import(`${url}?tsx`)) as unknown, url };
  } catch (e) {
    throw new UsageError(`--load ${module}: cannot load: ${firstLine(message(e))}`);
  }
}

const firstLine = (s: string): string => s.split("\n")[0] ?? s;

/** A module namespace's plugin: `export const plugin`, else `export default`. */
function pluginExport(namespace: unknown): unknown {
  if (typeof namespace !== "object" || namespace === null) return undefined;
  if ("plugin" in namespace && namespace.plugin !== undefined) return namespace.plugin;
  return "default" in namespace ? namespace.default : undefined;
}

/** Adds `name` to `seen`, or throws naming who already has it. */
function claim(seen: Map<string, string>, name: string, what: string, by: string): void {
  const first = seen.get(name);
  if (first !== undefined)
    throw new UsageError(`--load ${by}: ${what} "${name}" is already ${first}'s`);
  seen.set(name, by);
}

/** A plugin scenario file: a URL, an absolute path, or a path beside the module. */
function scenarioEntry(s: string | URL, moduleUrl: string): PluginScenario {
  const path =
    s instanceof URL
      ? fileURLToPath(s)
      : isAbsolute(s)
        ? s
        : resolve(dirname(fileURLToPath(moduleUrl)), s);
  return { name: basename(path).replace(/\.(ya?ml|json)$/, ""), path };
}

/**
 * Loads the `--load` modules in order: imports each, takes its plugin
 * (`plugin` or default export), validates it, and merges them. Every name
 * a plugin brings must be new: a mapping type id, profile id, driver name
 * or scenario name of a built-in or of an earlier plugin is refused.
 *
 * @param modules - the paths as given on the command line (or file URLs).
 * @param cwd - what relative paths are resolved against (the process's).
 * @returns the merged set ({@link NO_PLUGINS} for none).
 * @throws {@link UsageError} (exit 2) naming the module and the field.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { NO_PLUGINS, UsageError, loadPlugins } from "@dmabuf-ref/cli";
 *
 * // No `--load`: the built-ins alone.
 * assert.equal(await loadPlugins([]), NO_PLUGINS);
 * // A module that is not there is bad input (exit 2), naming it as the user gave it.
 * const missing = "--load ./ualink.mjs: no such file (/nonexistent/ualink.mjs)";
 * await assert.rejects(loadPlugins(["./ualink.mjs"], "/nonexistent"),
 *   (e: unknown) => e instanceof UsageError && e.message === missing);
 * ```
 * @category Commands
 */
export async function loadPlugins(
  modules: readonly string[],
  cwd: string = process.cwd(),
): Promise<PluginSet> {
  if (modules.length === 0) return NO_PLUGINS;
  const pluginNames = new Map<string, string>();
  const typeIds = new Map<string, string>();
  const typeObjects = new Set<AnyMappingType>();
  for (const t of [...BUILTIN_MAPPING_TYPES, ...KNOWN_PROFILES.flatMap((p) => p.mappingTypes)]) {
    typeIds.set(t.id, "a built-in type");
    typeObjects.add(t);
  }
  const profileIds = new Map(KNOWN_PROFILES.map((p) => [p.id, "a built-in profile"]));
  const driverNames = new Map(BUILT_IN_DRIVER_NAMES.map((n) => [n, "a built-in driver"]));
  const scenarioNames = new Map(scenarioFiles().map((f) => [f.name, "a shipped scenario"]));

  const urls: string[] = [];
  const names: string[] = [];
  const mappingTypes: AnyMappingType[] = [];
  const profiles: Profile[] = [];
  const exporters: LoadedExporter[] = [];
  const importers: LoadedImporter[] = [];
  const hardware: LoadedHardware[] = [];
  const scenarios: PluginScenario[] = [];

  for (const module of modules) {
    const { namespace, url } = await importModule(module, cwd);
    const raw = pluginExport(namespace);
    if (raw === undefined)
      throw new UsageError(`--load ${module}: exports no plugin (export const plugin, or default)`);
    const parsed = pluginSchema.safeParse(raw);
    if (!parsed.success) throw new UsageError(`--load ${module}: ${pluginIssue(parsed.error)}`);
    const p = parsed.data;
    claim(pluginNames, p.name, "plugin name", module);
    const by = `${module} (plugin ${p.name})`;
    // A type the plugin's profiles list is resolvable as if listed itself.
    for (const t of [...p.mappingTypes, ...p.profiles.flatMap((x) => x.mappingTypes)]) {
      if (typeObjects.has(t)) continue;
      claim(typeIds, t.id, "mapping type", by);
      typeObjects.add(t);
      mappingTypes.push(t);
    }
    for (const x of p.profiles) {
      claim(profileIds, x.id, "profile", by);
      profiles.push(x);
    }
    for (const d of [...p.exporters, ...p.importers]) claim(driverNames, d.name, "driver", by);
    exporters.push(...p.exporters.map((d) => ({ ...d, plugin: p.name })));
    importers.push(...p.importers.map((d) => ({ ...d, plugin: p.name })));
    if (p.hardware !== undefined) hardware.push({ plugin: p.name, hardware: p.hardware });
    for (const s of p.scenarios) {
      const entry = scenarioEntry(s, url);
      if (!existsSync(entry.path))
        throw new UsageError(`--load ${module}: plugin.scenarios: no such file ${entry.path}`);
      claim(scenarioNames, entry.name, "scenario", by);
      scenarios.push(entry);
    }
    urls.push(url);
    names.push(p.name);
  }
  return Object.freeze({
    modules: urls,
    names,
    mappingTypes,
    profiles,
    exporters,
    importers,
    hardware,
    scenarios,
  });
}
