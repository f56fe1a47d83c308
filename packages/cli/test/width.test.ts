/*
 * Issue 14: every text output pastes into an email or an RFC, so no line
 * of it is wider than 72 columns (characters, not bytes: "§" is one).
 * Every command runs with --help and with each example its help gives
 * (those whose files exist: a plugin example names a file of the user's),
 * plus the listings the issue measured; JSON and Mermaid are not text.
 */
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { EMAIL_WIDTH } from "@dmabuf-ref/core";
import { runCli } from "./run-cli.js";

/** Every command and subcommand of the CLI. */
const COMMANDS: readonly string[][] = [
  [],
  ["demo"],
  ["profiles"],
  ["negotiate"],
  ["uapi"],
  ["uapi", "layout"],
  ["uapi", "ioctl"],
  ["scenario"],
  ["replay"],
  ["matrix"],
  ["explore"],
  ["render-examples"],
];

/** The examples a help text gives (`$ dmabuf-ref ...`, continuation lines joined). */
function examplesOf(help: string): string[][] {
  const joined = help.replace(/\\\n\s*/g, "");
  return [...joined.matchAll(/^\s*\$ dmabuf-ref (.+)$/gm)].map((m) =>
    (m[1] ?? "")
      .replace(/\s+#.*$/, "")
      .trim()
      .split(/\s+/),
  );
}

/** Whether an example prints text and can run here (its files exist, no plugin of the user's). */
function runnableText(args: readonly string[]): boolean {
  if (args.includes("--json") || args.includes("--load") || args.includes("render-examples"))
    return false;
  const format = args.indexOf("--format");
  if (format >= 0 && args[format + 1] !== "text") return false;
  return args.every((a) => !/\.(ya?ml|json)$/.test(a) || existsSync(a));
}

const segmenter = new Intl.Segmenter();

/** A line's width in characters as a terminal shows them ("§" is one). */
function columns(line: string): number {
  return [...segmenter.segment(line)].length;
}

/** The lines of a text wider than 72 characters, with their widths. */
function tooWide(text: string): string[] {
  return text
    .split("\n")
    .filter((l) => columns(l) > EMAIL_WIDTH)
    .map((l) => `${columns(l)}: ${l}`);
}

const examples = COMMANDS.flatMap((c) => examplesOf(runCli(...c, "--help").stdout)).filter(
  runnableText,
);

describe("every text output is at most 72 columns", () => {
  it.each(COMMANDS.map((c) => ({ command: ["dmabuf-ref", ...c, "--help"].join(" "), args: c })))(
    "$command",
    ({ args }) => {
      const r = runCli(...args, "--help");
      expect(r.status).toBe(0);
      expect(tooWide(r.stdout)).toEqual([]);
    },
  );

  it("the help texts give at least one runnable text example per command", () => {
    expect(examples.length).toBeGreaterThanOrEqual(8);
  });

  it.each(
    [
      ...examples,
      ["profiles"],
      ["matrix"],
      ["matrix", "--profile", "linux-6.19"],
      ["matrix", "--diff", "linux-6.19", "linux-7.1"],
      ["scenario", "--list"],
      ["uapi", "ioctl", "VFIO_DEVICE_FEATURE"],
      ["scenario", "flr-without-unmap"],
      ["replay", "rfc/replays/qemu-flr.yaml"],
      // No match: the pair-by-pair reasons are the longest lines negotiate prints.
      [
        "negotiate",
        "--profile",
        "rfc-mapping-types-v1",
        "--offers",
        "rfc/examples/pal-only-offers.yaml",
        "--accepts",
        "rfc/examples/rdma-accepts-sgt.yaml",
      ],
    ].map((args) => ({ command: ["dmabuf-ref", ...args].join(" "), args })),
  )("$command", ({ args }) => {
    const r = runCli(...args);
    expect(r.stderr).toBe("");
    expect(tooWide(r.stdout)).toEqual([]);
  });
});
