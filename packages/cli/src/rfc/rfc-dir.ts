/*
 * Where the `rfc/` documents are at run time. The CLI reads them (the worked
 * examples `demo` and `negotiate --help` name, the scenario files `scenario`
 * and `demo` run, the guide `render-examples` rewrites), so they must be found
 * in three layouts:
 *
 *   - a checkout, run from the sources (tsx): packages/cli/src/rfc/rfc-dir.ts;
 *   - a checkout, run built: packages/cli/dist/rfc/rfc-dir.js;
 *   - an installed package: node_modules/@dmabuf-ref/cli/dist/rfc/rfc-dir.js,
 *     where the build copied the repository's rfc/ to dist/data/rfc.
 *
 * A checkout uses the repository's rfc/ itself, so that `render-examples`
 * rewrites the committed files and the tests read what was just edited, never
 * a copy from the last build; an installed package has no repository around
 * it and uses its copy.
 */
import { existsSync } from "node:fs";
import { dirname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

/** The folder holding the CLI's package.json: this module is two levels below it. */
const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/**
 * Finds the `rfc/` folder for a CLI package at `packageRoot`.
 *
 * @param packageRoot - the folder holding the CLI's package.json.
 * @returns the repository's `rfc/` when the package is a checkout's
 *   `packages/cli` (not under any node_modules and with `../../rfc` beside
 *   it), else the copy the build bundled at `dist/data/rfc`.
 */
export function locateRfcDir(packageRoot: string): string {
  const checkout = resolve(packageRoot, "../../rfc");
  const installed = packageRoot.split(sep).includes("node_modules");
  return !installed && existsSync(checkout) ? checkout : join(packageRoot, "dist", "data", "rfc");
}

/**
 * `rfc/`: the documents RFCs embed and the CLI reads: the repository's in a
 * checkout, the copy the build bundled at `dist/data/rfc` when installed.
 *
 * @category Rendering
 */
export const RFC_DIR = locateRfcDir(PACKAGE_ROOT);
