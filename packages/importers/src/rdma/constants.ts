/**
 * The RDMA umem importers by driver name (kernel-model §5.2):
 * - `rdma-odp`: `ib_umem_dmabuf_get()` for a dynamic (ODP) MR, revocable;
 * - `rdma-pinned`: `ib_umem_dmabuf_get_pinned()`, no invalidate op since 7.1;
 * - `rdma-pinned-revocable`: Jacob Moroni's proposed
 *   `ib_umem_dmabuf_get_pinned_revocable_and_lock()`.
 *
 * @category Drivers
 */
export const RDMA_IMPORTERS = ["rdma-odp", "rdma-pinned", "rdma-pinned-revocable"] as const;

/**
 * One of {@link RDMA_IMPORTERS}: an RDMA umem interface (kernel-model §5.2).
 *
 * @category Drivers
 */
export type RdmaImporterName = (typeof RDMA_IMPORTERS)[number];
