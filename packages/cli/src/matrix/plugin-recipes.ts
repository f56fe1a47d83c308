/*
 * The matrix rows and columns of the `--load` plugins' drivers: a plugin
 * states only what to export (an `export` op's owner and arguments) and
 * which device imports; the import is what a revocable importer does,
 * through core's own ops.
 */
import { importerHolder, step } from "@dmabuf-ref/core";
import type { Machine, StepOutcome, World } from "@dmabuf-ref/core";
import type { PluginSet } from "../io/load-plugin.js";
import { negotiationRefusal } from "./negotiate-first.js";
import { exportOp, refused } from "./recipes.js";
import type { ExporterRecipe, Imported, ImporterRecipe } from "./recipes.js";

/**
 * The rows of the plugins' exporters that state a matrix export.
 *
 * @param plugins - the loaded plugins.
 * @returns one recipe per such exporter, in load order.
 */
export function pluginExporterRecipes(plugins: PluginSet): ExporterRecipe[] {
  return plugins.exporters.flatMap((e) => {
    const how = e.matrix;
    if (how === undefined) return [];
    return [
      {
        name: e.name,
        moves: how.moves,
        export: (m: Machine, w: World) => exportOp(m, w, e.name, how.owner, how.args),
      },
    ];
  });
}

/** An op that must not sleep on the idle matrix machine. */
function idle(r: StepOutcome, what: string): Exclude<StepOutcome, { status: "blocked" }> {
  if (r.status === "blocked") throw new Error(`${what} blocked on an idle machine: ${r.reason}`);
  return r;
}

/**
 * Imports as a revocable importer does: a dynamic attach from `device`
 * (negotiation checked first, only to name the stage), then the first map
 * under the buffer's resv: lock, map, unlock.
 */
function attachAndMap(
  m: Machine,
  w: World,
  buf: number,
  importer: string,
  device: string | null,
): Imported {
  const neg = negotiationRefusal(m, w, buf, importer, device);
  if (neg !== undefined) return neg;
  const a = idle(step(m, w, { kind: "attach", buf, importer, device, dynamic: true }), "attach");
  if (a.status === "failed") return refused(a.error, "exporter attach");
  const att = a.created;
  if (att === undefined) throw new Error(`${importer}'s attach created no attachment`);
  const holder = importerHolder(importer, att);
  const locked = idle(step(m, a.world, { kind: "lock", buf, holder }), "lock");
  if (locked.status === "failed") throw new Error(`lock failed: ${locked.error.message}`);
  const mapped = idle(step(m, locked.world, { kind: "map", att, holder }), "map");
  if (mapped.status === "failed") return refused(mapped.error, "first map");
  const unlocked = idle(step(m, mapped.world, { kind: "unlock", buf, holder }), "unlock");
  if (unlocked.status === "failed") throw new Error(`unlock failed: ${unlocked.error.message}`);
  return { ok: true, world: unlocked.world, att };
}

/**
 * The columns of the plugins' importers that name a matrix device.
 *
 * @param plugins - the loaded plugins.
 * @returns one recipe per such importer, in load order.
 */
export function pluginImporterRecipes(plugins: PluginSet): ImporterRecipe[] {
  return plugins.importers.flatMap((i) => {
    const how = i.matrix;
    if (how === undefined) return [];
    return [
      {
        name: i.name,
        absentReason: () => undefined,
        import: (m: Machine, w: World, buf: number) => attachAndMap(m, w, buf, i.name, how.device),
      },
    ];
  });
}
