/**
 * The vfio-pci unions are consumed with ts-pattern's `.exhaustive()`
 * (DESIGN §5): a consumer that forgets a variant does not compile.
 */
import { describe, expect, it } from "vitest";
import { match } from "ts-pattern";
import { returned } from "@dmabuf-ref/core";
import type { StepOutcome } from "@dmabuf-ref/core";
import type { VfioOpKind, VfioPciAction } from "@dmabuf-ref/exporters";
import { makeWorld } from "./setup.js";

describe("exhaustive matches over the vfio-pci unions", () => {
  it("a match over the StepOutcome of a vfio-pci ioctl that forgets 'blocked' fails to compile", () => {
    const summary = (r: StepOutcome): string =>
      // eslint-disable-next-line @typescript-eslint/no-unsafe-return
      match(r)
        .with({ status: "done" }, (x) => `fd ${x.returned?.ret ?? -1}`)
        .with({ status: "failed" }, (x) => x.error.errno)
        // @ts-expect-error the "blocked" arm is missing
        .exhaustive();
    expect(summary(returned(makeWorld().w, [], { ret: 3 }))).toBe("fd 3");
  });

  it("a match over VfioOpKind or VfioPciAction that forgets a variant fails to compile", () => {
    const kind = (k: VfioOpKind): string =>
      // eslint-disable-next-line @typescript-eslint/no-unsafe-return
      match(k)
        .with("flr", "reset", "hot-reset", () => "reset")
        // @ts-expect-error the power, memory, close and unbind kinds are missing
        .exhaustive();
    const action = (a: VfioPciAction): string =>
      // eslint-disable-next-line @typescript-eslint/no-unsafe-return
      match(a)
        .with({ op: "flr" }, () => "flr")
        // @ts-expect-error every other action is missing
        .exhaustive();
    expect(kind("flr")).toBe("reset");
    expect(action({ op: "flr", device: "vfio0" })).toBe("flr");
  });
});
