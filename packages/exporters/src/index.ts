/**
 * `@dmabuf-ref/exporters`: exporter drivers (the model of each driver's
 * `dma_buf_ops`) over `@dmabuf-ref/core`.
 *
 * @packageDocumentation
 */
export {};
