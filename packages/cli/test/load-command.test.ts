import { describe, expect, it } from "vitest";
import { runCliSync, runCollectedAsync } from "../src/program.js";
import { definePlugin } from "../src/io/plugin.js";
import { BUILT_IN_DRIVER_NAMES } from "../src/io/load-plugin.js";
import { matrixMachine } from "../src/matrix/machine.js";
import { buildMachine } from "../src/scenarios/machine.js";
import { DEFAULT_MACHINE, machineDescriptionSchema } from "../src/replay/machine.js";
import { linux71 } from "@dmabuf-ref/core";
import type { CliRun } from "./run-cli.js";

/** The fixtures, relative to the repository root (where vitest runs). */
const F = "packages/cli/test/fixtures/plugins";
const TOY = `${F}/toy-link.ts`;
const TOY_JS = `${F}/toy-js.mjs`;

/** `dmabuf-ref ARGS` in this process through `runCli`, the entry point that can load modules. */
async function cli(...args: string[]): Promise<CliRun> {
  return runCollectedAsync(args);
}

const negotiateToy = (...extra: string[]): Promise<CliRun> =>
  cli(
    "negotiate",
    ...extra,
    "--offers",
    `${F}/toy-offers.yaml`,
    "--accepts",
    `${F}/toy-accepts.yaml`,
  );

describe("negotiate --load", () => {
  it("resolves a loaded mapping type in offers and accepts, under a loaded profile", async () => {
    const r = await negotiateToy("--load", TOY, "--profile", "toy-rfc");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("toy-exporter -> toy-importer under toy-rfc");
    expect(r.stdout).toContain("match: toy-link (exporter index 0, importer index 0)");
  });

  it("without the module the type and the profile are unknown (exit 2)", async () => {
    const noType = await negotiateToy();
    expect(noType.status).toBe(2);
    expect(noType.stderr).toContain('offers[0].type: unknown mapping type "toy-link"');
    const noProfile = await negotiateToy("--profile", "toy-rfc");
    expect(noProfile.status).toBe(2);
    expect(noProfile.stderr).toContain('unknown profile "toy-rfc"');
  });

  it("a loaded type outside the profile in force is refused by negotiation, not by the file", async () => {
    const r = await negotiateToy("--load", TOY, "--profile", "rfc-mapping-types-v1", "--json");
    expect(r.status).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, errno: "EINVAL" });
  });
});

describe("profiles --load", () => {
  it("lists a loaded profile after the built-in ones, in text and JSON", async () => {
    const r = await cli("profiles", "--load", TOY);
    expect(r.status).toBe(0);
    const at = r.stdout.indexOf("toy-rfc - ");
    expect(at).toBeGreaterThan(r.stdout.indexOf("linux-7.1 - "));
    const json = await cli("profiles", "--load", TOY, "--json");
    const ids = (JSON.parse(json.stdout) as { id: string }[]).map((p) => p.id);
    expect(ids[ids.length - 1]).toBe("toy-rfc");
    expect((await cli("profiles")).stdout).not.toContain("toy-rfc");
  });
});

describe("matrix --load", () => {
  it("adds each loaded exporter as a row and each loaded importer as a column", async () => {
    const r = await cli(
      "matrix",
      "--load",
      TOY,
      "--load",
      TOY_JS,
      "--profile",
      "toy-rfc",
      "--json",
    );
    expect(r.status).toBe(0);
    const cells = JSON.parse(r.stdout) as {
      exporter: string;
      importer: string;
      ok: boolean;
      type?: string;
    }[];
    const cell = (e: string, i: string): unknown =>
      cells.find((c) => c.exporter === e && c.importer === i);
    expect(cell("toy-exporter", "toy-importer")).toMatchObject({ ok: true, type: "sgt" });
    expect(cell("toy-exporter", "js-importer")).toMatchObject({ ok: true, type: "sgt" });
    expect(cell("vfio-pci", "toy-importer")).toMatchObject({ ok: true });
    expect(cell("toy-exporter", "rdma-odp")).toMatchObject({ ok: true });
    const rows = new Set(cells.map((c) => c.exporter));
    const columns = new Set(cells.map((c) => c.importer));
    expect([...rows]).toEqual(["vfio-pci", "gpu", "rdma", "toy-exporter"]);
    expect([...columns].slice(-2)).toEqual(["toy-importer", "js-importer"]);
  });

  it("runs a loaded driver under a built-in profile and --diff compares loaded profiles", async () => {
    const r = await cli("matrix", "--load", TOY, "--profile", "linux-7.1");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/toy-exporter +toy-importer +ok sgt \(revocable\)/);
    const d = await cli("matrix", "--load", TOY, "--diff", "rfc-mapping-types-v1", "toy-rfc");
    expect(d.status).toBe(0);
    // toy-rfc only adds a type nobody offers: the matrix does not move.
    expect(d.stdout).toContain("cells that differ: rfc-mapping-types-v1 -> toy-rfc (0)");
  });
});

describe("scenario --load", () => {
  it("lists the plugin's scenarios after the shipped ones", async () => {
    const r = await cli("scenario", "--load", TOY, "--list", "--json");
    expect(r.status).toBe(0);
    const rows = JSON.parse(r.stdout) as { name: string; profile: string }[];
    expect(rows.at(-1)).toMatchObject({ name: "toy-revoke", profile: "toy-rfc" });
    expect(rows.length).toBeGreaterThan(1);
  });

  it("runs a plugin's scenario on a machine with the plugin's drivers and hardware", async () => {
    const r = await cli("scenario", "--load", TOY, "toy-revoke");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("# toy-revoke under toy-rfc");
    expect(r.stdout).toContain("toy-importer -> toy0: unmap attach 1");
    expect(r.stdout).toContain("# exists toy[0] == fault: holds");
  });

  it("runs a shipped scenario with the plugin loaded, under a loaded profile", async () => {
    const r = await cli(
      "scenario",
      "--load",
      TOY_JS,
      "--profile",
      "toy-js-7.1",
      "flr-without-unmap",
      "--format",
      "json",
    );
    // The same verdicts as under linux-7.1, which the loaded profile renames.
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      scenario: "flr-without-unmap",
      profile: "toy-js-7.1",
    });
  });
});

describe("explore --load", () => {
  it("explores a file whose calls name the loaded drivers and device", async () => {
    const r = await cli("explore", "--load", TOY, `${F}/toy-revoke.yaml`, "--json");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout) as { profile: string; expectations: { holds: boolean }[] };
    expect(report.profile).toBe("toy-rfc");
    expect(report.expectations.map((e) => e.holds)).toEqual([true, true, true, true, true]);
  });

  it("without the module the file's profile is unknown (exit 2)", async () => {
    const r = await cli("explore", `${F}/toy-revoke.yaml`);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('toy-revoke.yaml: profile: unknown profile "toy-rfc"');
  });

  it("each --workers thread loads the modules itself and reaches the same verdicts", async () => {
    type Report = { states: number; reductions: string[]; expectations: { holds: boolean }[] };
    const args = ["explore", "--load", TOY, `${F}/toy-race.yaml`, "--json"];
    const one = JSON.parse((await cli(...args)).stdout) as Report;
    const r = await cli(...args, "--workers", "2");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const two = JSON.parse(r.stdout) as Report;
    // The search did split: a worker that could not load the plugin would fail the run.
    expect(two.reductions.join(" ")).toContain("2 workers sharing one visited set");
    expect(two.states).toBe(one.states);
    expect(two.expectations.map((e) => e.holds)).toEqual([true, true, true, true]);
  });
});

describe("replay --load", () => {
  it("replays on a machine with the plugins' hardware, under a loaded profile", async () => {
    const r = await cli("replay", "--load", TOY, "--load", TOY_JS, `${F}/toy-replay.yaml`);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("attach toy0 to IOAS 1: done");
    expect(r.stdout).toContain("dma toy0 read 0x100000000+0x8: ok at vfio0.bar0+0x0");
    expect(r.stdout).toContain("# toy-js-7.1: 0 violation(s), 0 fault(s)");
  });
});

describe("a bad --load module is exit 2 with one line naming the module and the field", () => {
  const oneLine = (r: CliRun): string => {
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
    return r.stderr;
  };
  const load = (module: string): Promise<CliRun> => cli("matrix", "--load", module);

  it("a missing module", async () => {
    expect(oneLine(await load(`${F}/nope.mjs`))).toContain(`--load ${F}/nope.mjs: no such file`);
  });

  it("a module that throws while loading", async () => {
    expect(oneLine(await load(`${F}/bad/throws.mjs`))).toContain(
      "bad/throws.mjs: cannot load: this module is broken",
    );
  });

  it("a module with no plugin export", async () => {
    expect(oneLine(await load(`${F}/bad/no-plugin.mjs`))).toContain(
      "bad/no-plugin.mjs: exports no plugin",
    );
  });

  it("an invalid field", async () => {
    expect(oneLine(await load(`${F}/bad/bad-field.mjs`))).toContain(
      "bad/bad-field.mjs: plugin.exporters[0].driver: expected a function",
    );
  });

  it("a mapping type id, profile id or driver name a built-in has", async () => {
    expect(oneLine(await load(`${F}/bad/collides-type.mjs`))).toContain(
      'mapping type "sgt" is already a built-in type\'s',
    );
    expect(oneLine(await load(`${F}/bad/collides-profile.mjs`))).toContain(
      'profile "linux-7.1" is already a built-in profile\'s',
    );
    expect(oneLine(await load(`${F}/bad/collides-driver.mjs`))).toContain(
      'driver "iommufd" is already a built-in driver\'s',
    );
  });

  it("the same names from two plugins", async () => {
    const r = await cli("matrix", "--load", TOY, "--load", TOY);
    expect(oneLine(r)).toContain(`--load ${TOY}: plugin name "toy" is already ${TOY}'s`);
  });

  it("a driver factory that builds a driver of another name", async () => {
    expect(oneLine(await load(`${F}/bad/misnamed-driver.mjs`))).toContain(
      "plugin misnamed-driver: importers declared-name: driver(linux-7.1) built a driver named other-name",
    );
  });

  it("hardware that overlaps the machine's", async () => {
    expect(oneLine(await load(`${F}/bad/hardware-clash.mjs`))).toContain(
      "plugin hardware-clash: hardware.regions clash.mem: overlaps the machine's ram0",
    );
  });

  it("--load through the synchronous entry point", () => {
    let err = "";
    const status = runCliSync(["matrix", "--load", TOY], {
      out: () => undefined,
      err: (s) => {
        err += s;
      },
    });
    expect(status).toBe(2);
    expect(err).toContain("--load needs the asynchronous runCli");
  });
});

describe("definePlugin", () => {
  it("returns the very object it is given", () => {
    const p = { name: "same", importers: [] };
    expect(definePlugin(p)).toBe(p);
  });

  it("throws naming the first bad field", () => {
    expect(() => definePlugin({ name: "x", profiles: [{ id: "x" }] } as never)).toThrow(
      /^plugin\.profiles\[0\]\.title: /,
    );
    expect(() => definePlugin({ name: "x", mappingtypes: [] } as never)).toThrow(
      /^plugin: Unrecognized key: "mappingtypes"/,
    );
  });
});

describe("the built-in driver names a plugin may not take", () => {
  it("cover every driver the matrix machine and a full machine: description build", () => {
    const full = machineDescriptionSchema.parse({
      devices: [
        { id: "vfio0", driver: "vfio-pci", bars: [{ index: 0, size: 0x1000 }] },
        { id: "gpu0", driver: "gpu", vram: 0x100000 },
        {
          id: "nic0",
          driver: "rdma",
          exportBar: 0x1000,
          umem: ["odp", "pinned", "pinned-revocable"],
        },
      ],
      kvm: {},
      type1: {},
    });
    const names = [
      matrixMachine(linux71),
      buildMachine(linux71, full),
      buildMachine(linux71, DEFAULT_MACHINE),
    ].flatMap((m) => [...m.exporters.keys(), ...m.importers.keys()]);
    for (const n of names) expect(BUILT_IN_DRIVER_NAMES).toContain(n);
  });
});

describe("--help", () => {
  it.each(["negotiate", "matrix", "scenario", "explore", "replay"])(
    "%s documents --load",
    async (command) => {
      const r = await cli(command, "--help");
      expect(r.status).toBe(0);
      expect(r.stdout).toContain("--load <module>");
    },
  );
});
