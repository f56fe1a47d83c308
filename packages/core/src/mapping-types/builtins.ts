import type { AnyMappingType } from "./define.js";
import { iommuDomain } from "./iommu-domain.js";
import { kvmPfn } from "./kvm-pfn.js";
import { pal } from "./pal.js";
import { sgt } from "./sgt.js";
import { vfioIommufdPrivate } from "./vfio-iommufd-private.js";

/**
 * The built-in mapping types of DESIGN §3.1, in the order listings show them.
 * Profiles choose which of them exist.
 *
 * @category Mapping types
 */
export const BUILTIN_MAPPING_TYPES: readonly AnyMappingType[] = Object.freeze([
  sgt,
  pal,
  iommuDomain,
  vfioIommufdPrivate,
  kvmPfn,
]);

/**
 * Looks a mapping type up by id among the built-ins and any extra types.
 *
 * @param id - the type's id, e.g. `"pal"`.
 * @param extra - further types (third-party ones made with `defineMappingType`).
 * @returns the type, or undefined when no type has that id.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { findMappingType, pal } from "@dmabuf-ref/core";
 *
 * assert.equal(findMappingType("pal"), pal);
 * assert.equal(findMappingType("pal")?.name, "Physical Address List");
 * assert.equal(findMappingType("ualink"), undefined);
 * ```
 * @category Mapping types
 */
export function findMappingType(
  id: string,
  extra: readonly AnyMappingType[] = [],
): AnyMappingType | undefined {
  // Built-ins first, then `extra`, the first with the id: without copying
  // both lists (every successful map describes its payload through this).
  for (const t of BUILTIN_MAPPING_TYPES) if (t.id === id) return t;
  for (const t of extra) if (t.id === id) return t;
  return undefined;
}
