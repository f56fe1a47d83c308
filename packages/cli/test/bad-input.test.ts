/*
 * Issue 14, input checked to the field: a bad replay file is exit 2 with
 * one line on stderr naming the file as the user gave it, the path of the
 * field and what was expected; never a made-up errno, never a truncated
 * value, and nothing on stdout. One fixture per case
 * (test/fixtures/bad-replays/).
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MAX_MATCH_ENTRIES } from "@dmabuf-ref/core";
import { runCli } from "./run-cli.js";

/** A file in a fresh temporary directory. */
function scratch(name: string, content: string | Buffer): string {
  const file = join(mkdtempSync(join(tmpdir(), "dmabuf-ref-bad-")), name);
  writeFileSync(file, content);
  return file;
}

/** The RDMA NIC's SGT accepts: the other side of a negotiation whose offers are under test. */
const SGT_ACCEPTS = "rfc/examples/rdma-accepts-sgt.yaml";

const DIR = "packages/cli/test/fixtures/bad-replays";

const CASES: readonly { file: string; says: RegExp }[] = [
  {
    file: "misspelt-arg.yaml",
    says: /calls\[0\]: Unrecognized key: "args" \("args": did you mean "arg"\?\)/,
  },
  { file: "flags-too-wide.yaml", says: /calls\[0\]\.arg\.flags: 4294967302 does not fit u32/ },
  { file: "malformed-0x.yaml", says: /calls\[0\]\.arg\.flags: "0x" is not a number/ },
  { file: "malformed-hex.yaml", says: /calls\[0\]\.arg\.flags: "0x20g000" is not a number/ },
  { file: "malformed-nan.yaml", says: /calls\[0\]\.arg\.flags: "NaN" is not a number/ },
  { file: "device-trailing-space.yaml", says: /calls\[0\]\.device: "vfio0 " is no device/ },
  { file: "dma-zero-length.yaml", says: /calls\[0\]\.length: a DMA moves at least one byte/ },
  { file: "dma-past-2-64.yaml", says: /calls\[0\]\.iova: iova\+length leaves \[0, 2\^64\)/ },
  { file: "unquoted-above-2-53.yaml", says: /calls\[0\]\.iova: .* unquoted integer above 2\^53/ },
  { file: "dma-negative-iova.yaml", says: /calls\[0\]\.iova: iova\+length leaves \[0, 2\^64\)/ },
  { file: "ioas-too-wide.yaml", says: /calls\[0\]\.ioas: 4294967297 does not fit the u32 pt_id/ },
  { file: "unknown-profile.yaml", says: /: profile: unknown profile "linux-9\\u0007"/ },
];

describe("a bad replay file is exit 2 with one line naming the file and the field", () => {
  it.each(CASES)("$file", ({ file, says }) => {
    const path = `${DIR}/${file}`;
    for (const args of [
      ["replay", path],
      ["replay", path, "--json"],
    ]) {
      const r = runCli(...args);
      expect(r.status).toBe(2);
      expect(r.stdout).toBe("");
      const lines = r.stderr.trimEnd().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`${path}: `);
      expect(lines[0]).toMatch(says);
    }
  });
});

describe("large and malformed negotiation files", () => {
  it("a JSON offers file is read as JSON: a 1.2 M-offer file is refused against the stated limit before any entry is validated", () => {
    const entry = '{"type":"sgt","data":{"requiresP2P":false}}';
    const offers = scratch(
      "offers.json",
      `{"exporter":"big","offers":[${Array(1_200_000).fill(entry).join(",")}]}`,
    );
    const r = runCli("negotiate", "--offers", offers, "--accepts", SGT_ACCEPTS);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`${offers}: offers: 1200000 entries: at most ${MAX_MATCH_ENTRIES}`);
  });

  it("a .json file that is not JSON is named as such", () => {
    const offers = scratch("offers.json", "offers: [ ]\n");
    const r = runCli("negotiate", "--offers", offers, "--accepts", SGT_ACCEPTS);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`${offers}: not JSON: `);
  });
});

describe("self-contradicting negotiation input is exit 2 naming the field", () => {
  const NEG = "packages/cli/test/fixtures/bad-negotiation";
  it.each([
    {
      args: ["--topology", `${NEG}/topology-contradicts.yaml`],
      says: /distances\[1\]\.distance: gpu0 -> nic0 is listed twice with different distances/,
    },
    {
      args: ["--accepts", `${NEG}/domain-size-0.yaml`],
      says: /accepts\[0\]\.data\.size: an iommu_domain mapping maps at least one byte/,
    },
    {
      args: ["--accepts", `${NEG}/domain-wraps.yaml`],
      says: /accepts\[0\]\.data\.iova: iova \+ size passes 2\^64/,
    },
  ])("$args.1", ({ args, says }) => {
    const base = [
      "negotiate",
      "--profile",
      "proposal-converters",
      "--offers",
      "rfc/examples/pal-only-offers.yaml",
    ];
    const accepts = args.includes("--accepts") ? [] : ["--accepts", SGT_ACCEPTS];
    const r = runCli(...base, ...accepts, ...args);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(says);
  });
});

describe("names and text", () => {
  it("a file that is not UTF-8 is exit 2, not read with replacement characters", () => {
    const file = scratch(
      "replay.yaml",
      Buffer.concat([
        Buffer.from("calls:\n  - { event: flr, device: vfio"),
        Buffer.from([0xff, 0xfe]),
        Buffer.from(" }\n"),
      ]),
    );
    const r = runCli("replay", file);
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe(`dmabuf-ref: ${file}: not UTF-8 text`);
  });

  it("a device name with a control character is echoed escaped", () => {
    const file = scratch("replay.yaml", 'calls:\n  - { event: flr, device: "vfio0\\u001b[31m" }\n');
    const r = runCli("replay", file);
    expect(r.status).toBe(2);
    expect(r.stderr).not.toContain("\u001b");
    expect(r.stderr).toContain(String.raw`"vfio0\u001b[31m" is no device`);
  });
});

describe("a misspelt key gets a did-you-mean", () => {
  it("in a scenario file's call (validated inside a transform): lenght -> length", () => {
    const file = scratch(
      "s.yaml",
      "name: s\nthreads:\n  t: [ { event: dma, device: dev1, iova: 0x1000, lenght: 8, dir: read } ]\n" +
        "expect:\n  - forall: no-violation\n",
    );
    const r = runCli("explore", file);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(
      `${file}: threads.t[0]: Unrecognized key: "lenght" ("lenght": did you mean "length"?)`,
    );
  });

  it("no suggestion when nothing is close", () => {
    const file = scratch(
      "r.yaml",
      "calls:\n  - { fd: iommufd, ioctl: IOMMU_IOAS_ALLOC, zzzzzz: 1 }\n",
    );
    const r = runCli("replay", file);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('Unrecognized key: "zzzzzz"');
    expect(r.stderr).not.toContain("did you mean");
  });
});
