/*
 * Issue 14: answers name things the way the user named them. A file that
 * binds the dma-buf it exports (`as: buf0`) reads `buf0` in every trace,
 * witness and diagram, never the model's `buf 1`; a malformed call is
 * reported against the kind of call it names (its `event:`), not as
 * "Invalid input".
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { nameBuffers } from "@dmabuf-ref/core";
import { json, runCli } from "./run-cli.js";

const SCENARIO = "rfc/scenarios/flr-races-p2p-dma.yaml";
const MODEL_ID = /\b(dma-)?buf[ =]\d/;

describe("a dma-buf the file named is called by that name", () => {
  it("in explore's witnesses (text, Markdown, Mermaid)", () => {
    for (const format of ["text", "markdown", "mermaid"]) {
      const out = runCli("explore", SCENARIO, "--format", format).stdout;
      // The Markdown tables list calls, which name no buffer here.
      if (format !== "markdown") expect(out, format).toContain("buf0");
      expect(out, format).not.toMatch(MODEL_ID);
    }
  });

  it("in the scenario command's trace, and --json maps the model's id to the name", () => {
    const text = runCli("scenario", "flr-races-p2p-dma").stdout;
    expect(text).toContain("vfio0 -> buf0: dma_resv_lock (FLR)");
    expect(text).not.toMatch(MODEL_ID);
    const out = json(runCli("scenario", "flr-races-p2p-dma", "--json")) as {
      bufferNames: Record<string, string>;
    };
    expect(out.bufferNames).toEqual({ "1": "buf0" });
  });

  it("in a replay's --json", () => {
    const out = json(runCli("replay", "rfc/replays/qemu-flr.yaml", "--json")) as {
      bufferNames: Record<string, string>;
    };
    expect(Object.values(out.bufferNames)).toEqual(["buf0"]);
  });

  it("a buffer the file did not name keeps the model's id, and only dma-buf ids are renamed", () => {
    const names = new Map([[1, "frontbuffer"]]);
    expect(nameBuffers("buf 1 and buf 2; buf=1; dma-buf 1; job 1", names)).toBe(
      "frontbuffer and buf 2; buf=frontbuffer; dma-buf frontbuffer; job 1",
    );
  });
});

describe("a malformed call is reported against the call it names", () => {
  it("an event close with an ioctl's fd: the event's missing device and its stray key", () => {
    const dir = mkdtempSync(join(tmpdir(), "names-"));
    const file = join(dir, "close.yaml");
    writeFileSync(file, "calls:\n  - { event: close, fd: buf0 }\n");
    const r = runCli("replay", file);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("calls[0].device: Invalid input: expected string");
    expect(r.stderr).toContain('"fd" is a field of other entries, not of this one');
    expect(r.stderr).not.toMatch(/calls\[0\]: Invalid input$/m);
  });
});
