import { describe, expect, it } from "vitest";
import { json, runCli } from "./run-cli.js";

const ex = (f: string): string => `rfc/examples/${f}`;

describe("dmabuf-ref negotiate", () => {
  it("prints the chosen pair with 0-based indexes and exits 0 on a match", () => {
    const run = runCli(
      "negotiate",
      "--profile",
      "rfc-mapping-types-v1",
      "--offers",
      ex("vfio-offers-rfc.yaml"),
      "--accepts",
      ex("rdma-accepts-sgt.yaml"),
      "--topology",
      ex("topology-host-bridge.yaml"),
      "--json",
    );
    expect(run.status).toBe(0);
    expect(json(run)).toMatchObject({
      ok: true,
      profile: "rfc-mapping-types-v1",
      type: "sgt",
      exporterIndex: 1,
      importerIndex: 0,
    });
  });

  it("names the converter when core bridges PAL to the importer's type", () => {
    const run = runCli(
      "negotiate",
      "--profile",
      "proposal-converters",
      "--offers",
      ex("pal-only-offers.yaml"),
      "--accepts",
      ex("iommufd-accepts-domain.yaml"),
      "--json",
    );
    expect(run.status).toBe(0);
    expect(json(run)).toMatchObject({ type: "iommu-domain", converter: "pal->iommu-domain" });
  });

  it("exits 1 with the failure report listing every pair once when nothing matches", () => {
    const run = runCli(
      "negotiate",
      "--profile",
      "rfc-mapping-types-v1",
      "--offers",
      ex("vfio-offers-rfc.yaml"),
      "--accepts",
      ex("rdma-accepts-sgt.yaml"),
      "--json",
    );
    expect(run.status).toBe(1);
    const out = json(run) as { ok: boolean; errno: string; stage: string; pairs: unknown[] };
    expect(out).toMatchObject({ ok: false, errno: "EINVAL", stage: "negotiation" });
    expect(out.pairs).toEqual([
      expect.objectContaining({ exporterIndex: 0, importerIndex: 0, outcome: "no-common-type" }),
      expect.objectContaining({
        exporterIndex: 1,
        importerIndex: 0,
        outcome: "skipped",
        errno: "EOPNOTSUPP",
      }),
    ]);
  });

  it("defaults to linux-7.1, where PAL does not exist", () => {
    const run = runCli(
      "negotiate",
      "--offers",
      ex("vfio-offers-rfc.yaml"),
      "--accepts",
      ex("iommufd-accepts-rfc.yaml"),
    );
    expect(run.status).toBe(1);
    expect(run.stdout).toContain("under linux-7.1");
    expect(run.stdout).toContain("type pal does not exist in linux-7.1");
  });

  it("bad input exits 2 naming the file and the bad field", () => {
    const run = runCli(
      "negotiate",
      "--offers",
      "packages/cli/test/fixtures/bad-offers.yaml",
      "--accepts",
      ex("iommufd-accepts-rfc.yaml"),
    );
    expect(run.status).toBe(2);
    expect(run.stderr).toContain(
      "packages/cli/test/fixtures/bad-offers.yaml: offers[0].data.requiresP2P",
    );
  });

  it("an unknown mapping type, unparsable YAML, a missing file or profile exits 2", () => {
    const accepts = ex("iommufd-accepts-rfc.yaml");
    const unknown = runCli(
      "negotiate",
      "--offers",
      "packages/cli/test/fixtures/unknown-type.yaml",
      "--accepts",
      accepts,
    );
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('offers[0].type: unknown mapping type "scatterlist-ng"');
    const broken = runCli(
      "negotiate",
      "--offers",
      "packages/cli/test/fixtures/not-yaml.yaml",
      "--accepts",
      accepts,
    );
    expect(broken.status).toBe(2);
    expect(broken.stderr).toContain("not YAML or JSON");
    expect(runCli("negotiate", "--offers", "nope.yaml", "--accepts", accepts).status).toBe(2);
    const profile = runCli(
      "negotiate",
      "--profile",
      "linux-9.9",
      "--offers",
      ex("vfio-offers-rfc.yaml"),
      "--accepts",
      accepts,
    );
    expect(profile.status).toBe(2);
    expect(profile.stderr).toContain('unknown profile "linux-9.9"');
    expect(runCli("negotiate", "--offers", ex("vfio-offers-rfc.yaml")).status).toBe(2);
  });

  it("reads JSON files as well as YAML", () => {
    const run = runCli(
      "negotiate",
      "--profile",
      "rfc-mapping-types-v1",
      "--offers",
      ex("vfio-offers-rfc.yaml"),
      "--accepts",
      "packages/cli/test/fixtures/abort-accepts.json",
      "--json",
    );
    expect(run.status).toBe(0);
    expect(json(run)).toMatchObject({ type: "pal", exporterIndex: 0, importerIndex: 0 });
  });
});
