import type { Codec } from "../encoding/codec.js";
import { pushString } from "../encoding/hash.js";

/**
 * What the oracle caught. Access violations are memory reached when it must
 * not be (DESIGN §3.5); contract violations are broken locking or calling
 * rules that the kernel reports with a WARN or lockdep splat (kernel-model
 * §1.2, §1.3, §7.3).
 *
 * @category Fabric and oracle
 */
export type ViolationKind =
  /** DMA reached memory whose owner has reset, disabled or freed it. */
  | "access-after-revoke"
  /** DMA reached memory through a grant made before the memory was reset or moved. */
  | "stale-grant"
  /** DMA reached memory with no grant at all: use after unmap, or PFN fishing. */
  | "no-grant"
  /** A write after invalidate through a mapping in its read-and-discard window. */
  | "write-after-invalidate"
  /** A locking or calling rule of the dma-buf contract was broken. */
  | "contract";

/**
 * One violation the oracle recorded.
 *
 * @category Fabric and oracle
 */
export interface Violation {
  /** What kind. */
  readonly kind: ViolationKind;
  /** The rule broken, short and stable (e.g. "resv held for map of a dynamic attachment"). */
  readonly rule: string;
  /** Who broke it (a device, driver or task). */
  readonly actor: string;
  /** One sentence with the specifics. */
  readonly message: string;
}

/** Canonical encoding of a {@link Violation}. */
export const violationCodec: Codec<Violation> = {
  seed: 0x7e11,
  encode(v, out) {
    pushString(out, v.kind);
    pushString(out, v.rule);
    pushString(out, v.actor);
    pushString(out, v.message);
  },
};
