/**
 * `@dmabuf-ref/importers`: importer drivers (the model of each driver's
 * `dma_buf_attach_ops` and uAPI) over `@dmabuf-ref/core`.
 *
 * @packageDocumentation
 */
export {};
