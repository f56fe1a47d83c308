/**
 * Cheap attempts (issue 10): an explorer tries many calls that fail or
 * block and throws their reasons away, so a reason is written only when
 * something reads it, and only once.
 */
import * as fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  ERRNO_NAMES,
  blocked,
  boot,
  formatKernelError,
  kernelError,
  referenceMachine,
  step,
} from "@dmabuf-ref/core";

describe("lazy reasons", () => {
  it("a kernel error's message is written on first read, once, and reads like a plain one", () => {
    let writes = 0;
    const e = kernelError("EINVAL", () => {
      writes++;
      return "buf 3 is not revoked";
    });
    expect(writes).toBe(0);
    expect(e.errno).toBe("EINVAL");
    expect(e.message).toBe("buf 3 is not revoked");
    expect(formatKernelError(e)).toBe("EINVAL: buf 3 is not revoked");
    expect(writes).toBe(1);
    expect(e).toEqual(kernelError("EINVAL", "buf 3 is not revoked"));
    expect(Object.isFrozen(e)).toBe(true);
  });

  it("a lazily written kernel error has the plain one's own fields, JSON and spread, and writes its sentence at most once", () => {
    fc.assert(
      fc.property(fc.constantFrom(...ERRNO_NAMES), fc.string(), (errno, sentence) => {
        let writes = 0;
        const lazy = kernelError(errno, () => {
          writes++;
          return sentence;
        });
        const plain = kernelError(errno, sentence);
        expect(writes).toBe(0);
        expect(Object.keys(lazy)).toEqual(Object.keys(plain));
        expect(JSON.stringify(lazy)).toBe(JSON.stringify(plain));
        expect({ ...lazy }).toEqual({ ...plain });
        expect(formatKernelError(lazy)).toBe(formatKernelError(plain));
        expect(Object.isFrozen(lazy)).toBe(true);
        expect(writes).toBe(1);
      }),
    );
  });

  it("a blocked step's reason is written on first read, once", () => {
    const m = referenceMachine();
    let writes = 0;
    const out = blocked(boot(m), "resv", () => {
      writes++;
      return "resv of buf 1 is held by exp0";
    });
    expect(writes).toBe(0);
    expect(out.status === "blocked" ? out.reason : "").toBe("resv of buf 1 is held by exp0");
    expect(out.status === "blocked" ? out.reason : "").toBe("resv of buf 1 is held by exp0");
    expect(writes).toBe(1);
  });

  it("a failed core op still says why when asked: unlock by a non-holder is EPERM with its sentence", () => {
    const m = referenceMachine();
    const e = step(m, boot(m), {
      kind: "export",
      exporter: "ref-exporter",
      owner: "exp0",
      args: { size: 0x1000 },
    });
    if (e.status !== "done" || e.created === undefined) throw new Error("export failed");
    const r = step(m, e.world, { kind: "unlock", buf: e.created, holder: "someone" });
    expect(r.status).toBe("failed");
    if (r.status === "failed") {
      expect(r.error.errno).toBe("EPERM");
      expect(r.error.message).toContain("someone");
      expect(r.world).toBe(e.world);
    }
  });
});
