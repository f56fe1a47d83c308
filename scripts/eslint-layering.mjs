// @ts-check
// Layering, enforced (DESIGN §2, STYLE "Layering enforced, not hoped for"):
// dependencies point one way, cli -> {exporters, importers, contracts} -> core
// (the contracts bug zoo and contract tests also use exporters and importers);
// exporters and importers meet only through core, as drivers meet only through
// dma-buf core; inside a driver package each driver folder meets its siblings
// only through core; and a package is imported by name through its index (or a
// subpath its package.json `exports` declares), never by a path into its folder.
//
// This module is the one source of truth for those rules: eslint.config.mjs
// spreads `layeringConfigs`, and packages/cli/test/layering.test.ts lints
// fixtures with the default export (the same blocks over the TypeScript parser,
// no type information) to prove each rule fires.
//
// ESLint does not merge one rule's options across config objects: for a file
// matched by two objects, the later object's `no-restricted-imports` replaces
// the earlier one. So each object below lists every pattern that applies to its
// folder: a driver folder's object repeats its package's patterns.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import tseslint from "typescript-eslint";

const root = join(import.meta.dirname, "..");

/**
 * @typedef {object} Layer
 * @property {readonly string[]} mayImport packages it may import by name (index only)
 * @property {readonly string[]} drivers its driver folders under src/, which never import each other
 * @property {string} why the message for an import of a package it may not use (unused when it may use all)
 */

/** @type {Readonly<Record<string, Layer>>} Each package directory under packages/. */
export const layers = {
  core: {
    mayImport: [],
    drivers: [],
    why: "core imports no driver, suite or CLI: like dma-buf core, it never knows a driver (DESIGN §2).",
  },
  exporters: {
    mayImport: ["core"],
    drivers: ["vfio-pci", "gpu", "rdma"],
    why: "Exporters never import importers, contracts or the CLI: exporters and importers meet only through core (DESIGN §2).",
  },
  importers: {
    mayImport: ["core"],
    drivers: ["iommufd", "kvm", "rdma", "vfio-type1"],
    why: "Importers never import exporters, contracts or the CLI: exporters and importers meet only through core (DESIGN §2).",
  },
  contracts: {
    mayImport: ["core"],
    drivers: [],
    why: "Contract suites import only core: they test any driver, so they name none (DESIGN §2).",
  },
  cli: {
    mayImport: ["core", "exporters", "importers", "contracts"],
    drivers: [],
    why: "The CLI may import every other package, by name through its index (DESIGN §2).",
  },
};

const names = Object.keys(layers);

/** @param {string} s @returns {string} `s` as a literal inside a RegExp. */
const literal = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** @param {readonly string[]} xs @returns {string} a RegExp alternation of the literals. */
const anyOf = (xs) => xs.map(literal).join("|");

/**
 * The subpaths other than "." that a package's package.json `exports` declares
 * (`@dmabuf-ref/core/foo` for `"./foo"`), as RegExp sources; a `*` in a subpath
 * pattern matches like Node's (any string, slashes included). Subpaths mapped to
 * null are not exported.
 *
 * @param {string} pkg a directory under packages/
 * @returns {string[]}
 */
function declaredSubpaths(pkg) {
  const file = join(root, "packages", pkg, "package.json");
  if (!existsSync(file)) return [];
  /** @type {{ name?: string, exports?: unknown }} */
  const manifest = JSON.parse(readFileSync(file, "utf8"));
  const { exports } = manifest;
  if (typeof exports !== "object" || exports === null) return [];
  const name = manifest.name ?? `@dmabuf-ref/${pkg}`;
  return Object.entries(exports)
    .filter(([key, target]) => key.startsWith("./") && target !== null)
    .map(([key]) => literal(name + key.slice(1)).replace(/\\\*/g, ".+"));
}

const subpaths = names.flatMap(declaredSubpaths);

/** `@dmabuf-ref/<pkg>/<anything>` that no package.json `exports` declares. */
const deepImport = {
  regex:
    subpaths.length > 0
      ? `^(?!(?:${subpaths.join("|")})$)@dmabuf-ref/[^/]+/.`
      : "^@dmabuf-ref/[^/]+/.",
  message:
    "Import a package through its index (`@dmabuf-ref/<pkg>`) or a subpath its package.json `exports` declares; deeper paths are its internals (STYLE: package shape).",
};

/**
 * A relative specifier that climbs into one of `pkgs` (`../../importers/src/x.js`,
 * `../../../packages/core/src/index.js`): any number of `../`, then an optional
 * `packages/`, then the package's directory as a whole path segment.
 *
 * @param {readonly string[]} pkgs
 * @returns {string}
 */
const intoPackage = (pkgs) => `^(\\.\\./)+(packages/)?(${anyOf(pkgs)})(/|$)`;

/**
 * The patterns for every file of package `pkg`.
 *
 * @param {string} pkg
 */
function packagePatterns(pkg) {
  const layer = layers[pkg];
  if (layer === undefined) throw new Error(`no layer ${pkg}`);
  const others = names.filter((n) => n !== pkg);
  const forbidden = others.filter((n) => !layer.mayImport.includes(n));
  const allowed = others.filter((n) => layer.mayImport.includes(n));
  return [
    ...(forbidden.length > 0
      ? [
          { group: forbidden.map((n) => `@dmabuf-ref/${n}`), message: layer.why },
          { regex: intoPackage(forbidden), message: layer.why },
        ]
      : []),
    ...(allowed.length > 0
      ? [
          {
            regex: intoPackage(allowed),
            message:
              "Import another package by its name (`@dmabuf-ref/<pkg>`), through its index, never by a relative path into its folder.",
          },
        ]
      : []),
    deepImport,
  ];
}

/**
 * The extra pattern for a driver folder: a relative specifier reaching a
 * sibling driver folder (`../gpu/x.js`, `../../src/gpu/x.js`,
 * `../../../exporters/src/gpu/x.js`).
 *
 * @param {string} pkg
 * @param {string} driver
 */
function driverPattern(pkg, driver) {
  const siblings = (layers[pkg]?.drivers ?? []).filter((d) => d !== driver);
  return {
    regex: `^(\\.\\./)+((packages/)?${literal(pkg)}/)?(src/)?(${anyOf(siblings)})(/|$)`,
    message: `The ${driver} driver (${pkg}) never imports the ${siblings.join(" or ")} driver folder: drivers meet only through core (DESIGN §2); move what they share into @dmabuf-ref/core.`,
  };
}

/**
 * @param {object[]} patterns
 * @returns {import("eslint").Linter.RulesRecord}
 */
const restrict = (patterns) => ({ "no-restricted-imports": ["error", { patterns }] });

/**
 * The bug zoo (`packages/contracts/zoo/`) and the contract tests are wrong
 * and right drivers in their harnesses: they name the built-in drivers, so
 * they may import exporters and importers (and contracts' own index), never
 * the CLI. The suites themselves (`src/`) keep the contracts layer.
 */
const ZOO_WHY =
  "The bug zoo and the contract tests may import core, exporters, importers and contracts, never the CLI (DESIGN §2).";
const zooPatterns = [
  { group: ["@dmabuf-ref/cli"], message: ZOO_WHY },
  { regex: intoPackage(["cli"]), message: ZOO_WHY },
  {
    regex: intoPackage(["core", "exporters", "importers"]),
    message:
      "Import another package by its name (`@dmabuf-ref/<pkg>`), through its index, never by a relative path into its folder.",
  },
  deepImport,
];

/**
 * One config object per package, then one per driver folder (later objects
 * win for the files they match, so a driver folder's object repeats its
 * package's patterns).
 *
 * @type {import("eslint").Linter.Config[]}
 */
export const layeringConfigs = [
  ...names.map((pkg) => ({
    name: `dmabuf-ref/layering/${pkg}`,
    files: [`packages/${pkg}/**/*.ts`],
    rules: restrict(packagePatterns(pkg)),
  })),
  ...names.flatMap((pkg) =>
    (layers[pkg]?.drivers ?? []).map((driver) => ({
      name: `dmabuf-ref/layering/${pkg}/${driver}`,
      files: [`packages/${pkg}/src/${driver}/**/*.ts`],
      rules: restrict([...packagePatterns(pkg), driverPattern(pkg, driver)]),
    })),
  ),
  {
    name: "dmabuf-ref/layering/contracts/zoo-and-tests",
    files: ["packages/contracts/zoo/**/*.ts", "packages/contracts/test/**/*.ts"],
    rules: restrict(zooPatterns),
  },
];

/**
 * The layering rules alone, over the TypeScript parser without type
 * information: the configuration packages/cli/test/layering.test.ts lints its
 * fixtures with (`new ESLint({ overrideConfigFile: "scripts/eslint-layering.mjs" })`).
 *
 * @type {import("eslint").Linter.Config[]}
 */
export default [
  {
    name: "dmabuf-ref/layering/parser",
    files: ["**/*.ts"],
    languageOptions: { parser: tseslint.parser },
  },
  ...layeringConfigs,
];
