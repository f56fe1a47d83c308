/**
 * `@dmabuf-ref/core/encoding`: how the World is stored, hashed and compared
 * (DESIGN §2a), for driver authors who keep persistent tables in their
 * slices and for tools that compare worlds or walk their indexes. The main
 * entry (`@dmabuf-ref/core`) is what a driver or a tool needs to model the
 * kernel; this one is the machinery underneath: persistent tables and
 * their indexes, ordered trees, hash primitives and the codecs of core's
 * own World slices.
 *
 * @packageDocumentation
 */
export {
  fmix32,
  hashWords,
  mixWord,
  pushOptionalString,
  pushString,
  pushU64,
} from "./encoding/hash.js";
export { SECOND_LANE_SEED } from "./encoding/hash.js";
export { encodeWith, equalWith, hashWith } from "./encoding/codec.js";
export { encodedCodec } from "./encoding/codecs.js";
export { withFields } from "./encoding/record-with.js";
export { PTable, combinedIndex, emptyIdSet, markIndex, valueLanes } from "./encoding/ptable.js";
export type { ValueLanes } from "./encoding/ptable.js";
export type { IdSet, TableIndex } from "./encoding/ptable.js";
export { BTree, BTREE_WIDTH } from "./encoding/btree.js";
export type {
  BTreeEntry,
  BTreeInner,
  BTreeLeaf,
  BTreeNode,
  BTreeSpec,
  LeafChange,
} from "./encoding/btree.js";
export {
  groupHash,
  groupIndex,
  idGroupIndex,
  idsInGroup,
  idsInIdGroup,
} from "./encoding/group-index.js";
export type { GroupIndex, GroupKey, IdGroups, IdTree } from "./encoding/group-index.js";
export { IovaTree, iovaIndex } from "./fabric/iova-tree.js";
export type { IovaRangeEntry } from "./fabric/iova-tree.js";
export {
  firstFitAmong,
  rangesFrom,
  rangesHolding,
  regionIdNamed,
  regionIndexer,
} from "./fabric/region-index.js";
export type {
  RangeKey,
  RangeSpan,
  RangeTree,
  RegionIndex,
  RegionRange,
} from "./fabric/region-index.js";
export { grantIndexer, grantsOfRegion } from "./world/grant-index.js";
export type { GrantIndex } from "./world/grant-index.js";
export { violationKey } from "./world/world.js";
export type { BufIndex } from "./world/world.js";
export { arrivalQueueCodec, driverSliceCodec } from "./world/driver-slice.js";
export { domainCodec, iommuMappingCodec } from "./world/domain-state.js";
export { attachmentCodec } from "./world/attachment-state.js";
export { dmaBufCodec } from "./world/dmabuf-state.js";
