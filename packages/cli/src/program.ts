import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { Command, CommanderError, Option } from "commander";
import * as z from "zod";
import { EMAIL_WIDTH } from "@dmabuf-ref/core";
import { demoOutput } from "./commands/demo.js";
import { RFC_DIR, TRACES_DIR, rfcRenderings } from "./rfc/renderings.js";
import { currentDocument, outputDocuments } from "./rfc/scenario-guide.js";
import type { CollectedRun } from "./rfc/scenario-guide.js";
import { runNegotiate } from "./commands/negotiate.js";
import { matrixDiffCommand, matrixOutput } from "./commands/matrix.js";
import { profilesOutput } from "./commands/profiles.js";
import { replayOutput } from "./commands/replay.js";
import { exploreCommand } from "./commands/explore.js";
import type { ExploreOptions } from "./commands/explore.js";
import { findScenario, runScenarioFile, scenarioListOutput } from "./commands/scenario.js";
import type { ScenarioFormat } from "./commands/scenario.js";
import { uapiIoctlOutput, uapiLayoutOutput } from "./commands/uapi.js";
import { resolveProfile } from "./io/profile-option.js";
import { UsageError } from "./io/usage-error.js";
import { reportFormat, reportFormatOption } from "./io/report-format.js";
import { NO_PLUGINS, loadPlugins } from "./io/load-plugin.js";
import type { PluginSet } from "./io/load-plugin.js";

/**
 * Where a command writes: injected so tests can run the program in-process.
 *
 * @category Commands
 */
export interface CliIo {
  /**
   * Writes to standard output.
   *
   * @param text - what to write.
   */
  out(text: string): void;
  /**
   * Writes to standard error.
   *
   * @param text - what to write.
   */
  err(text: string): void;
}

const profileOption = (): Option =>
  new Option("--profile <id>", "profile to run under (default linux-7.1)");

/**
 * `--load MODULE`, repeatable: a JavaScript or TypeScript module (path
 * from the working directory) whose `plugin` (or default) export adds
 * mapping types, profiles, hardware and drivers (see `definePlugin`).
 */
const loadOption = (): Option =>
  new Option(
    "--load <module>",
    "load a plugin module (.js/.mjs, or .ts under tsx) exporting `plugin`: its mapping types, " +
      "profiles, hardware and drivers join the built-ins; repeatable",
  ).argParser((v: string, previous: string[] | undefined) => [...(previous ?? []), v]);

/**
 * The CLI package's version (`--version`): read from its package.json,
 * which sits one directory above both `src/` and `dist/`.
 */
export const CLI_VERSION: string = z
  .object({ version: z.string().min(1) })
  .parse(JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"))).version;

/**
 * How the program gets the `--load` plugins before a command runs.
 *
 * @category Commands
 */
export type PluginLoader = (modules: readonly string[]) => Promise<PluginSet>;

/**
 * Builds the `dmabuf-ref` command tree.
 *
 * @param io - output sinks.
 * @param setExit - receives the exit status a command decided on.
 * @param loader - loads the `--load` modules before the command's action;
 *   absent (the synchronous `runCliSync`), `--load` is a usage error.
 *   Parse with `parseAsync` when one is given.
 * @returns the commander program.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createProgram } from "@dmabuf-ref/cli";
 *
 * let out = "";
 * let status = 0;
 * const io = { out: (t: string) => void (out += t), err: () => undefined };
 * const program = createProgram(io, (code) => void (status = code));
 * assert.ok(program.commands.map((c) => c.name()).includes("negotiate"));
 * // The ioctl number userspace passes for IOMMU_IOAS_MAP_FILE.
 * program.parse(["uapi", "ioctl", "IOMMU_IOAS_MAP_FILE", "--json"], { from: "user" });
 * assert.equal(status, 0);
 * assert.deepEqual(JSON.parse(out), { name: "IOMMU_IOAS_MAP_FILE", number: "0x3b8f" });
 * ```
 * @category Commands
 */
export function createProgram(
  io: CliIo,
  setExit: (code: number) => void,
  loader?: PluginLoader,
): Command {
  // What the `--load` modules added, set by the preAction hook before the action runs.
  let plugins: PluginSet = NO_PLUGINS;
  const program = new Command("dmabuf-ref")
    .description("Executable reference for dma-buf mapping-type negotiation and revoke contracts")
    .version(CLI_VERSION, "--version", "print the version of dmabuf-ref")
    .configureOutput({
      writeOut: (s) => {
        io.out(s);
      },
      writeErr: (s) => {
        io.err(s);
      },
    })
    // Help pastes into an email: commander wraps every description at 72.
    .configureHelp({ helpWidth: EMAIL_WIDTH })
    .exitOverride()
    .showHelpAfterError()
    .addHelpText("after", "\nExample:\n  $ dmabuf-ref profiles\n  $ dmabuf-ref negotiate --help\n")
    .hook("preAction", (_program, action) => {
      const modules = action.opts<{ load?: string[] }>().load ?? [];
      if (modules.length === 0) return undefined;
      if (loader === undefined)
        throw new UsageError(
          "--load needs the asynchronous runCli (a module loads asynchronously)",
        );
      return loader(modules).then((p) => {
        plugins = p;
      });
    });

  program
    .command("demo")
    .description("show the profiles and the worked negotiations (what `pnpm start` runs)")
    .addHelpText("after", "\nExample:\n  $ dmabuf-ref demo\n")
    .action(() => {
      io.out(demoOutput());
    });

  program
    .command("profiles")
    .description("list the profiles: mapping types, converters and version rules of each")
    .addOption(loadOption())
    .addOption(reportFormatOption())
    .option("--json", "print JSON (the short form of --format json)")
    .addHelpText(
      "after",
      "\nExample:\n  $ dmabuf-ref profiles --json\n" +
        "  $ dmabuf-ref profiles --format markdown\n" +
        "  $ dmabuf-ref profiles --load ./ualink.ts  # a plugin's too\n",
    )
    .action((opts: { json?: boolean; format?: string }) => {
      io.out(profilesOutput(reportFormat("profiles", opts), plugins.profiles));
    });

  program
    .command("negotiate")
    .description(
      "negotiate an exporter's offers against an importer's accepts (kernel-model §4.2); " +
        "exit 0 on a match, 1 on no match, 2 on bad input",
    )
    .requiredOption("--offers <file>", "YAML/JSON: [{type, data}] or {exporter, offers: [...]}")
    .requiredOption(
      "--accepts <file>",
      "YAML/JSON: [{type, data}] or {importer, module, accepts: [...]}",
    )
    .option("--topology <file>", "YAML/JSON: {distances: [{provider, client, distance}]}")
    .addOption(profileOption())
    .addOption(loadOption())
    .addOption(reportFormatOption())
    .option("--json", "print JSON (the short form of --format json)")
    .addHelpText(
      "after",
      "\nExample:\n" +
        "  $ dmabuf-ref negotiate --profile rfc-mapping-types-v1 \\\n" +
        "      --offers rfc/examples/vfio-offers-rfc.yaml \\\n" +
        "      --accepts rfc/examples/iommufd-accepts-rfc.yaml\n" +
        "  match: pal (exporter index 0, importer index 0)\n" +
        "  $ dmabuf-ref negotiate --load ./ualink.ts --profile ualink-rfc \\\n" +
        "      --offers offers.yaml --accepts accepts.yaml  # a plugin's types\n",
    )
    .action(
      (opts: {
        offers: string;
        accepts: string;
        topology?: string;
        profile?: string;
        json?: boolean;
        format?: string;
      }) => {
        const { output, exitCode } = runNegotiate({
          offers: opts.offers,
          accepts: opts.accepts,
          ...(opts.topology === undefined ? {} : { topology: opts.topology }),
          profile: resolveProfile(opts.profile, plugins),
          format: reportFormat("negotiate", opts),
          mappingTypes: plugins.mappingTypes,
        });
        io.out(output);
        setExit(exitCode);
      },
    );

  const uapi = program
    .command("uapi")
    .description("byte layouts and ioctl numbers of the modelled VFIO and iommufd uAPI")
    .addHelpText("after", "\nExample:\n  $ dmabuf-ref uapi layout iommu_ioas_map_file --json\n");
  uapi
    .command("layout")
    .description("print a struct's size and member offsets (x86-64)")
    .argument("<struct>", "kernel struct name, e.g. iommu_ioas_map_file")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ dmabuf-ref uapi layout vfio_device_feature_dma_buf\n")
    .action((name: string, opts: { json?: boolean }) => {
      io.out(uapiLayoutOutput(name, opts.json === true));
    });
  uapi
    .command("ioctl")
    .description("print an ioctl's number")
    .argument("<name>", "kernel macro, e.g. IOMMU_IOAS_MAP_FILE")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ dmabuf-ref uapi ioctl VFIO_DEVICE_FEATURE --json\n")
    .action((name: string, opts: { json?: boolean }) => {
      io.out(uapiIoctlOutput(name, opts.json === true));
    });

  program
    .command("scenario")
    .description(
      "run a scenario file of rfc/scenarios under the profile the file names, unless " +
        "--profile is given: its reference run and the explorer's verdicts; exit 0 when every " +
        "expectation holds, 1 when not, 3 when a bound stopped the search; --list shows them",
    )
    .argument("[name]", "scenario name (see --list)")
    .option("--list", "list the scenarios")
    .addOption(profileOption())
    .addOption(loadOption())
    .addOption(
      new Option(
        "--format <format>",
        "output format (default text; a run: text, mermaid or json; the list: text, markdown " +
          "or json)",
      ).choices(["text", "markdown", "mermaid", "json"]),
    )
    .option("--json", "print JSON (the short form of --format json)")
    .addHelpText(
      "after",
      "\nExample:\n  $ dmabuf-ref scenario --list\n" +
        "  $ dmabuf-ref scenario flr-without-unmap --format mermaid\n" +
        "  $ dmabuf-ref scenario --load ./ualink.ts --list  # a plugin's too\n",
    )
    .action(
      (
        name: string | undefined,
        opts: { list?: boolean; profile?: string; format?: string; json?: boolean },
      ) => {
        if (opts.json === true && opts.format !== undefined && opts.format !== "json")
          throw new UsageError(`scenario: --json and --format ${opts.format} contradict`);
        const format = opts.json === true ? "json" : (opts.format ?? "text");
        if (opts.list === true) {
          // No option is silently ignored: what a list cannot use is an error.
          if (name !== undefined) throw new UsageError("scenario: --list takes no NAME");
          if (opts.profile !== undefined)
            throw new UsageError(
              "scenario --list: --profile applies to running a scenario, not to the list",
            );
          if (format === "mermaid")
            throw new UsageError(
              "scenario --list: --format mermaid draws one run's trace; the list is text or json",
            );
          io.out(scenarioListOutput(reportFormat("scenario --list", { format }), plugins));
          return;
        }
        if (name === undefined) throw new UsageError("scenario: give a NAME or --list");
        if (format === "markdown")
          throw new UsageError(
            "scenario NAME: a run prints text, mermaid or json; markdown is for the list",
          );
        const { output, exitCode } = runScenarioFile(
          findScenario(name, plugins),
          opts.profile,
          format as ScenarioFormat,
          plugins,
        );
        io.out(output);
        setExit(exitCode);
      },
    );

  program
    .command("replay")
    .description(
      "replay a transcribed ioctl sequence (YAML/JSON; docs/guides/replay-format.md) on the file's " +
        "machine (default: the guide's); exit 0 when it replayed, whatever errnos came " +
        "back; 2 for a malformed file",
    )
    .argument("<file>", "the replay file")
    .addOption(profileOption())
    .addOption(loadOption())
    .option("--json", "print JSON")
    .addHelpText(
      "after",
      "\nExample:\n  $ dmabuf-ref replay rfc/replays/qemu-flr.yaml --json\n" +
        "  $ dmabuf-ref replay --load ./ualink.ts my-replay.yaml  # its hardware\n",
    )
    .action((file: string, opts: { profile?: string; json?: boolean }) => {
      io.out(replayOutput(file, opts.profile, opts.json === true, plugins));
    });

  program
    .command("matrix")
    .description(
      "every exporter x importer of the built-in drivers (and --load plugins'): the " +
        "negotiated type and lifetime, or the errno, stage and reason; --diff P1 P2 shows " +
        "only what a proposal changes (exit 1 when something does, as diff(1))",
    )
    .addOption(profileOption())
    .addOption(loadOption())
    .option("--diff <profiles...>", "two profiles to compare")
    .addOption(reportFormatOption())
    .option("--json", "print JSON (the short form of --format json)")
    .addHelpText(
      "after",
      "\nExample:\n  $ dmabuf-ref matrix --profile linux-6.19\n" +
        "  $ dmabuf-ref matrix --diff linux-7.1 proposal-converters --json\n" +
        "  $ dmabuf-ref matrix --diff linux-7.1 linux-7.2 --format markdown\n" +
        "  $ dmabuf-ref matrix --load ./ualink.ts --profile ualink-rfc\n",
    )
    .action((opts: { profile?: string; diff?: string[]; json?: boolean; format?: string }) => {
      const format = reportFormat("matrix", opts);
      if (opts.diff !== undefined) {
        const [p1, p2, ...rest] = opts.diff;
        if (p1 === undefined || p2 === undefined || rest.length > 0) {
          throw new UsageError("--diff takes exactly two profiles");
        }
        if (opts.profile !== undefined)
          throw new UsageError("matrix --diff compares the two profiles it names; drop --profile");
        const d = matrixDiffCommand(
          resolveProfile(p1, plugins),
          resolveProfile(p2, plugins),
          format,
          plugins,
        );
        io.out(d.output);
        setExit(d.exitCode);
        return;
      }
      io.out(matrixOutput(resolveProfile(opts.profile, plugins), format, plugins));
    });

  program
    .command("explore")
    .description(
      "try every interleaving of a scenario file's threads with the kernel's own " +
        "continuations, breadth-first; print each expectation's verdict and a " +
        "shortest counterexample or example (rfc/scenarios/README.md)",
    )
    .argument("<file>", "a scenario file (YAML or JSON), e.g. rfc/scenarios/flr-races-p2p-dma.yaml")
    .addOption(profileOption())
    .addOption(loadOption())
    .option("--max-states <n>", "stop after n distinct states (exit 3 if undecided)")
    .option("--max-depth <d>", "expand no state d steps from the start")
    .option("--workers <w>", "search with w worker threads (hash-partitioned frontier)")
    .addOption(
      new Option("--format <format>", "output format").choices([
        "text",
        "markdown",
        "mermaid",
        "json",
      ]),
    )
    .option("--json", "print JSON (the short form of --format json)")
    .addHelpText(
      "after",
      "\nExit status: 0 every expectation holds, 1 one does not, 2 bad input,\n" +
        "3 a bound stopped the search before an answer.\n\nExample:\n" +
        "  $ dmabuf-ref explore rfc/scenarios/flr-races-p2p-dma.yaml\n" +
        "  $ dmabuf-ref explore rfc/scenarios/kref-underflow.yaml --json\n" +
        "  $ dmabuf-ref explore --load ./ualink.ts ualink-revoke.yaml\n",
    )
    .action((file: string, opts: ExploreOptions) => {
      const tty = process.stderr.isTTY;
      const r = exploreCommand(
        file,
        opts,
        tty
          ? (s) => {
              io.err(s);
            }
          : undefined,
        plugins,
      );
      io.out(r.output);
      setExit(r.exitCode);
    });

  program
    .command("render-examples")
    .description(
      "rewrite rfc/examples/*.txt and .mmd (worked negotiations, the revoke example), " +
        "rfc/traces/*.txt and .mmd (every scenario under its declared profile), and the " +
        "command outputs the scenario guide and the RFC documents (rfc/NNNN-*.md) show",
    )
    .addHelpText("after", "\nExample:\n  $ dmabuf-ref render-examples\n")
    .action(() => {
      mkdirSync(TRACES_DIR, { recursive: true });
      for (const r of rfcRenderings()) {
        writeFileSync(join(r.dir, `${r.name}.txt`), r.text);
        writeFileSync(join(r.dir, `${r.name}.mmd`), r.mermaid);
        io.out(`wrote ${relative(RFC_DIR, join(r.dir, r.name))}.txt, .mmd\n`);
      }
      for (const doc of outputDocuments()) {
        writeFileSync(doc, currentDocument(doc, runCollected));
        io.out(`wrote ${relative(RFC_DIR, doc)} (the outputs it shows)\n`);
      }
    });

  return program;
}

/**
 * Runs the CLI on an argument vector and returns its exit status: 0 success,
 * 1 a negative answer (no match), 2 bad input or usage.
 *
 * @param argv - the arguments after the program name.
 * @param io - output sinks.
 * @returns the exit status.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runCli } from "@dmabuf-ref/cli";
 *
 * let out = "";
 * const io = { out: (t: string) => void (out += t), err: () => undefined };
 * // `matrix --diff` exits as diff(1) does: 0 when the profiles agree, 1 when they differ.
 * assert.equal(await runCli(["matrix", "--diff", "linux-7.1", "linux-7.1"], io), 0);
 * assert.equal(await runCli(["matrix", "--diff", "linux-7.1", "proposal-converters"], io), 1);
 * assert.match(out, /^cells that differ: linux-7\.1 -> proposal-converters \(\d+\)$/m);
 * // An option the command does not take is a usage error.
 * assert.equal(await runCli(["profiles", "--bogus"], io), 2);
 * ```
 * @category Commands
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let exitCode = 0;
  const program = createProgram(
    io,
    (code) => {
      exitCode = code;
    },
    (modules) => loadPlugins(modules),
  );
  try {
    await program.parseAsync([...argv], { from: "user" });
    return exitCode;
  } catch (e) {
    return failure(e, io);
  }
}

/**
 * {@link runCli} without the promise: every command is synchronous, so a
 * caller that cannot await (a test running many commands in-process, where
 * spawning Node each time would cost seconds) gets the same status and
 * output; only `--load`, which imports modules, needs {@link runCli}.
 *
 * @param argv - the arguments after the program name.
 * @param io - output sinks.
 * @returns the exit status.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runCliSync } from "@dmabuf-ref/cli";
 *
 * let out = "";
 * let err = "";
 * const io = { out: (t: string) => void (out += t), err: (t: string) => void (err += t) };
 * assert.equal(runCliSync(["uapi", "ioctl", "IOMMU_IOAS_MAP_FILE"], io), 0);
 * assert.match(out, /^IOMMU_IOAS_MAP_FILE = 0x3b8f = _IO\(';', 0x8f\)/);
 * // Bad input is exit 2, with one line on stderr and no stack trace.
 * assert.equal(runCliSync(["uapi", "ioctl", "IOMMU_IOAS_MAP_FIEL"], io), 2);
 * assert.match(err, /^dmabuf-ref: unknown ioctl "IOMMU_IOAS_MAP_FIEL"/);
 * ```
 * @category Commands
 */
export function runCliSync(argv: readonly string[], io: CliIo): number {
  let exitCode = 0;
  const program = createProgram(io, (code) => {
    exitCode = code;
  });
  try {
    program.parse([...argv], { from: "user" });
    return exitCode;
  } catch (e) {
    return failure(e, io);
  }
}

/** Output sinks that keep what a command prints, and what they kept. */
function collector(): { io: CliIo; kept: () => Omit<CollectedRun, "status"> } {
  let stdout = "";
  let stderr = "";
  return {
    io: {
      out: (s) => {
        stdout += s;
      },
      err: (s) => {
        stderr += s;
      },
    },
    kept: () => ({ stdout, stderr }),
  };
}

/**
 * Runs a command in this process, collecting what it prints (the output
 * blocks of the RFC documents, tests): {@link runCliSync}'s status and
 * output, without `--load`.
 *
 * @param args - the arguments after the program name.
 * @returns stdout, stderr and the exit status.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runCollected } from "@dmabuf-ref/cli";
 *
 * const r = runCollected(["uapi", "layout", "iommu_ioas_map_file"]);
 * assert.equal(r.status, 0);
 * assert.equal(r.stderr, "");
 * const lines = r.stdout.split("\n");
 * assert.equal(lines[0], "struct iommu_ioas_map_file (40 bytes)");
 * // The dma-buf fd sits at offset 12, a signed 32-bit member.
 * assert.ok(lines.includes("    12     4  s32                              fd"));
 * ```
 * @category Commands
 */
export function runCollected(args: readonly string[]): CollectedRun {
  const c = collector();
  const status = runCliSync(args, c.io);
  return { ...c.kept(), status };
}

/**
 * {@link runCollected} through {@link runCli}, the entry point that can
 * load `--load` modules.
 *
 * @param args - the arguments after the program name.
 * @returns stdout, stderr and the exit status.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runCollected, runCollectedAsync } from "@dmabuf-ref/cli";
 *
 * // Only the asynchronous entry point loads `--load` modules.
 * const sync = runCollected(["profiles", "--load", "no-such-plugin.mjs"]);
 * assert.equal(sync.status, 2);
 * assert.match(sync.stderr, /--load needs the asynchronous runCli/);
 * const r = await runCollectedAsync(["profiles", "--load", "no-such-plugin.mjs"]);
 * assert.equal(r.status, 2);
 * assert.match(r.stderr, /--load no-such-plugin\.mjs: no such file/);
 * ```
 * @category Commands
 */
export async function runCollectedAsync(args: readonly string[]): Promise<CollectedRun> {
  const c = collector();
  const status = await runCli(args, c.io);
  return { ...c.kept(), status };
}

/** The exit status of a command that threw: a usage error's, or commander's. */
function failure(e: unknown, io: CliIo): number {
  if (e instanceof UsageError) {
    io.err(`dmabuf-ref: ${e.message}\n`);
    return e.exitCode;
  }
  if (e instanceof CommanderError) {
    // --help and --version end through here with exit code 0.
    return e.exitCode === 0 ? 0 : 2;
  }
  throw e;
}
