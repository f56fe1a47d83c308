/**
 * Layering (DESIGN §2): dependencies point one way, cli -> {exporters,
 * importers, contracts} -> core; exporters and importers meet only through
 * core, and so do the driver folders inside each; a package is imported by
 * name through its index. ESLint's `no-restricted-imports` enforces it
 * (scripts/eslint-layering.mjs, spread into eslint.config.mjs); these
 * fixtures prove each pattern fires where it should and stays quiet where
 * the import is allowed. Each fixture is linted as if it sat at its path, so
 * the per-folder config objects apply; no fixture file exists on disk.
 */
import { readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ESLint } from "eslint";
import { beforeAll, describe, expect, it } from "vitest";

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

/** The layering blocks alone, over the TypeScript parser, with no type information. */
const LAYERING_CONFIG = "scripts/eslint-layering.mjs";

/** A forbidden import: linted at `file`, it must be reported with `says` in the message. */
interface Forbidden {
  readonly rule: string;
  readonly file: string;
  readonly code: string;
  readonly says: string;
}

/** An allowed import: linted at `file`, it must produce no message at all. */
interface Allowed {
  readonly rule: string;
  readonly file: string;
  readonly code: string;
}

const CORE = "core imports no driver, suite or CLI";
const EXPORTERS = "Exporters never import importers, contracts or the CLI";
const IMPORTERS = "Importers never import exporters, contracts or the CLI";
const BY_NAME = "Import another package by its name";
const INDEX_ONLY = "Import a package through its index";

const forbidden: readonly Forbidden[] = [
  // core
  {
    rule: "core may not import an exporter by name",
    file: "packages/core/src/world/fixture.ts",
    code: `import type { VfioConfig } from "@dmabuf-ref/exporters";`,
    says: CORE,
  },
  {
    rule: "core may not re-export an importer by name",
    file: "packages/core/src/index-fixture.ts",
    code: `export { iommufdDriver } from "@dmabuf-ref/importers";`,
    says: CORE,
  },
  {
    rule: "core may not import the CLI or the contract suites",
    file: "packages/core/src/lifetime/fixture.ts",
    code: `import { main } from "@dmabuf-ref/cli";\nimport { suite } from "@dmabuf-ref/contracts";`,
    says: CORE,
  },
  {
    rule: "core may not import an importer by relative path",
    file: "packages/core/src/world/fixture.ts",
    code: `import { x } from "../../../importers/src/iommufd/driver.js";`,
    says: CORE,
  },
  {
    rule: "core's tests may not import an exporter by a path through packages/",
    file: "packages/core/test/lifetime/fixture.test.ts",
    code: `import { x } from "../../../../packages/exporters/src/index.js";`,
    says: CORE,
  },
  // exporters
  {
    rule: "an exporter may not import an importer by name",
    file: "packages/exporters/src/vfio-pci/fixture.ts",
    code: `import { kvmDriver } from "@dmabuf-ref/importers";`,
    says: EXPORTERS,
  },
  {
    rule: "an exporter may not import an importer by relative path",
    file: "packages/exporters/src/vfio-pci/fixture.ts",
    code: `import { x } from "../../../importers/src/x.js";`,
    says: EXPORTERS,
  },
  {
    rule: "an exporter may not re-export an importer's types by relative path",
    file: "packages/exporters/src/index-fixture.ts",
    code: `export type { KvmState } from "../../importers/src/kvm/state.js";`,
    says: EXPORTERS,
  },
  {
    rule: "an exporter's tests may not import an importer",
    file: "packages/exporters/test/vfio-pci/fixture.test.ts",
    code: `import { iommufdDriver } from "@dmabuf-ref/importers";`,
    says: EXPORTERS,
  },
  {
    rule: "an exporter may not import the CLI or the contract suites",
    file: "packages/exporters/src/gpu/fixture.ts",
    code: `import { main } from "@dmabuf-ref/cli";\nimport { suite } from "@dmabuf-ref/contracts";`,
    says: EXPORTERS,
  },
  {
    rule: "an exporter may not import core by relative path",
    file: "packages/exporters/src/rdma/fixture.ts",
    code: `import { step } from "../../../core/src/index.js";`,
    says: BY_NAME,
  },
  // importers
  {
    rule: "an importer may not import an exporter by name",
    file: "packages/importers/src/kvm/fixture.ts",
    code: `import type { VfioConfig } from "@dmabuf-ref/exporters";`,
    says: IMPORTERS,
  },
  {
    rule: "an importer may not import an exporter by relative path",
    file: "packages/importers/src/iommufd/fixture.ts",
    code: `import { x } from "../../../exporters/src/vfio-pci/driver.js";`,
    says: IMPORTERS,
  },
  {
    rule: "an importer's tests may not import an exporter by a path through packages/",
    file: "packages/importers/test/kvm/fixture.ts",
    code: `import { x } from "../../../../packages/exporters/src/index.js";`,
    says: IMPORTERS,
  },
  {
    rule: "an importer may not import the CLI",
    file: "packages/importers/src/rdma/fixture.ts",
    code: `import { main } from "@dmabuf-ref/cli";`,
    says: IMPORTERS,
  },
  // driver folders
  {
    rule: "the vfio-pci exporter may not import the gpu exporter by relative path",
    file: "packages/exporters/src/vfio-pci/fixture.ts",
    code: `import { gpuDriver } from "../gpu/driver.js";`,
    says: "The vfio-pci driver (exporters) never imports the gpu or rdma driver folder",
  },
  {
    rule: "the gpu exporter may not re-export the rdma exporter",
    file: "packages/exporters/src/gpu/fixture.ts",
    code: `export * from "../rdma/config.js";`,
    says: "The gpu driver (exporters) never imports",
  },
  {
    rule: "the rdma exporter may not import vfio-pci through src/, even from a subfolder",
    file: "packages/exporters/src/rdma/sub/fixture.ts",
    code: `import type { VfioState } from "../../../src/vfio-pci/state.js";`,
    says: "The rdma driver (exporters) never imports",
  },
  {
    rule: "the kvm importer may not import the iommufd importer by relative path",
    file: "packages/importers/src/kvm/fixture.ts",
    code: `import { dmaBufGet } from "../iommufd/dmabuf-fd.js";`,
    says: "The kvm driver (importers) never imports the iommufd or rdma or vfio-type1 driver folder",
  },
  {
    rule: "the rdma importer may not import the iommufd importer by relative path",
    file: "packages/importers/src/rdma/fixture.ts",
    code: `import { dmaBufGet } from "../iommufd/dmabuf-fd.js";`,
    says: "The rdma driver (importers) never imports",
  },
  {
    rule: "the iommufd importer may not import the kvm importer, even type-only",
    file: "packages/importers/src/iommufd/fixture.ts",
    code: `import type { KvmState } from "../kvm/state.js";`,
    says: "The iommufd driver (importers) never imports",
  },
  {
    rule: "a driver folder keeps its package's rules: an iommufd file may not import an exporter",
    file: "packages/importers/src/iommufd/fixture.ts",
    code: `import { vfioDriver } from "@dmabuf-ref/exporters";`,
    says: IMPORTERS,
  },
  // cli, and deep imports by name anywhere
  {
    rule: "the CLI may not import core's internals by name",
    file: "packages/cli/src/commands/fixture.ts",
    code: `import type { World } from "@dmabuf-ref/core/src/world/world.js";`,
    says: INDEX_ONLY,
  },
  {
    rule: "the CLI may not import an exporter's internals by relative path",
    file: "packages/cli/src/scenarios/fixture.ts",
    code: `import { x } from "../../../exporters/src/vfio-pci/driver.js";`,
    says: BY_NAME,
  },
  {
    rule: "the CLI's tests may not import core by relative path",
    file: "packages/cli/test/fixture.test.ts",
    code: `import { step } from "../../core/src/index.js";`,
    says: BY_NAME,
  },
  {
    rule: "an importer may not import core's internals by name",
    file: "packages/importers/src/iommufd/fixture.ts",
    code: `import { step } from "@dmabuf-ref/core/src/lifetime/step.js";`,
    says: INDEX_ONLY,
  },
  {
    rule: "an exporter may not import core's dist by name",
    file: "packages/exporters/src/vfio-pci/fixture.ts",
    code: `import { step } from "@dmabuf-ref/core/dist/index.js";`,
    says: INDEX_ONLY,
  },
  // contracts
  {
    rule: "the contract suites may not import a driver package (they test any driver)",
    file: "packages/contracts/src/fixture.ts",
    code: `import { iommufdImporter } from "@dmabuf-ref/importers";`,
    says: "Contract suites import only core",
  },
  {
    rule: "the bug zoo may not import the CLI",
    file: "packages/contracts/zoo/fixture.ts",
    code: `import { runCli } from "@dmabuf-ref/cli";`,
    says: "The bug zoo and the contract tests may import core, exporters, importers and contracts",
  },
  {
    rule: "the contract tests may not import an exporter by relative path",
    file: "packages/contracts/test/fixture.test.ts",
    code: `import { x } from "../../exporters/src/index.js";`,
    says: BY_NAME,
  },
];

const allowed: readonly Allowed[] = [
  {
    rule: "the bug zoo names built-in drivers: it imports exporters and importers by name",
    file: "packages/contracts/zoo/fixture.ts",
    code: `import { vfioPciExporter } from "@dmabuf-ref/exporters";\nimport { iommufdImporter } from "@dmabuf-ref/importers";`,
  },
  {
    rule: "core imports within core by relative path",
    file: "packages/core/src/world/fixture.ts",
    code: `import type { Result } from "../errors/result.js";\nimport { emptyWorld } from "./world.js";`,
  },
  {
    rule: "core's tests import core's sources by relative path",
    file: "packages/core/test/world/fixture.test.ts",
    code: `import { step } from "../../src/index.js";`,
  },
  {
    rule: "an exporter imports core by name, values and types",
    file: "packages/exporters/src/vfio-pci/fixture.ts",
    code: `import { step } from "@dmabuf-ref/core";\nimport type { World } from "@dmabuf-ref/core";`,
  },
  {
    rule: "a driver folder imports within itself",
    file: "packages/exporters/src/vfio-pci/fixture.ts",
    code: `import { vfioDriver } from "./driver.js";\nexport type { VfioState } from "./state.js";`,
  },
  {
    rule: "an exporter package's index composes its driver folders",
    file: "packages/exporters/src/index-fixture.ts",
    code: `export { vfioDriver } from "./vfio-pci/driver.js";\nexport { gpuDriver } from "./gpu/driver.js";\nexport { rdmaDriver } from "./rdma/driver.js";`,
  },
  {
    rule: "an importer driver imports third-party and node modules",
    file: "packages/importers/src/kvm/fixture.ts",
    code: `import * as z from "zod";\nimport { match } from "ts-pattern";\nimport { join } from "node:path";`,
  },
  {
    rule: "an exporter's tests import the exporters by name and share test support",
    file: "packages/exporters/test/vfio-pci/fixture.test.ts",
    code: `import { vfioDriver } from "@dmabuf-ref/exporters";\nimport { kvmLike } from "../support/kvm-like.js";`,
  },
  {
    rule: "an importer's tests may share fixtures across driver folders",
    file: "packages/importers/test/kvm/fixture.test.ts",
    code: `import { makeWorld } from "../iommufd/fixtures.js";`,
  },
  {
    rule: "the CLI imports every other package by name",
    file: "packages/cli/src/matrix/fixture.ts",
    code: `import { step } from "@dmabuf-ref/core";\nimport { vfioDriver } from "@dmabuf-ref/exporters";\nimport { kvmDriver } from "@dmabuf-ref/importers";`,
  },
  {
    rule: "the CLI's tests import the CLI's sources by relative path",
    file: "packages/cli/test/fixture.test.ts",
    code: `import { matrix } from "../src/matrix/matrix.js";`,
  },
];

/** The directories directly under `dir` (a package's src/, or packages/). */
function folders(dir: string): string[] {
  return readdirSync(join(REPO_ROOT, dir), { withFileTypes: true })
    .filter((e) => e.isDirectory() && e.name !== "node_modules")
    .map((e) => e.name)
    .sort();
}

let eslint: ESLint;

beforeAll(() => {
  eslint = new ESLint({ cwd: REPO_ROOT, overrideConfigFile: LAYERING_CONFIG });
});

/** What ESLint reports for `code` linted as if it were `file`, one line per message. */
async function lint(file: string, code: string): Promise<string[]> {
  const results = await eslint.lintText(code, { filePath: join(REPO_ROOT, file) });
  return results.flatMap((r) =>
    r.messages.map((m) => `${m.ruleId ?? "fatal"}: ${m.message} (line ${m.line})`),
  );
}

describe("layering: forbidden imports are reported", () => {
  it.each(forbidden.map((f) => [f.rule, f] as const))("%s", async (_rule, f) => {
    const messages = await lint(f.file, f.code);
    const lines = f.code.split("\n").length;
    expect(messages.filter((m) => m.startsWith("no-restricted-imports: "))).toHaveLength(
      messages.length,
    );
    for (let line = 1; line <= lines; line += 1) {
      expect(messages).toContainEqual(expect.stringMatching(new RegExp(`\\(line ${line}\\)$`)));
    }
    expect(messages).toContainEqual(expect.stringContaining(f.says));
  });
});

describe("layering: allowed imports are not reported", () => {
  it.each(allowed.map((a) => [a.rule, a] as const))("%s", async (_rule, a) => {
    expect(await lint(a.file, a.code)).toEqual([]);
  });
});

describe("layering: every folder is covered", () => {
  it.each(folders("packages").map((pkg) => [pkg] as const))(
    "every file of package %s may import other packages only through their index",
    async (pkg) => {
      const messages = await lint(
        `packages/${pkg}/src/fixture.ts`,
        `import { step } from "@dmabuf-ref/core/src/index.js";`,
      );
      expect(messages).toContainEqual(expect.stringContaining(INDEX_ONLY));
    },
  );

  const driverFolders = ["exporters", "importers"].flatMap((pkg) =>
    folders(`packages/${pkg}/src`).flatMap((driver) =>
      folders(`packages/${pkg}/src`)
        .filter((other) => other !== driver)
        .map((other) => [pkg, driver, other] as const),
    ),
  );

  it.each(driverFolders)(
    "in %s, the %s driver folder may not import the %s driver folder (drivers meet only through core)",
    async (pkg, driver, other) => {
      const messages = await lint(
        `packages/${pkg}/src/${driver}/fixture.ts`,
        `import { x } from "../${other}/driver.js";`,
      );
      expect(messages).toContainEqual(expect.stringContaining(`The ${driver} driver (${pkg})`));
    },
  );
});
