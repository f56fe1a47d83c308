import { isKernelError, kernelError, lookupBuf, openFds } from "@dmabuf-ref/core";
import type { DmaBufState, KernelError, World } from "@dmabuf-ref/core";

/**
 * `dma_buf_get(fd)`: the dma-buf behind a userspace fd, or `EBADF`. In the
 * model an fd is a buffer id; a buffer whose every fd was closed, but which
 * an attachment or a running revoke still keeps alive, has no fd left, so
 * it is `EBADF` too (core's `openFds`, the count `close` uses).
 *
 * @param w - the world.
 * @param fd - the fd (a dma-buf id).
 * @returns the buffer, or `EBADF`.
 */
export function dmaBufGet(w: World, fd: number): DmaBufState | KernelError {
  const b = lookupBuf(w, fd);
  if (isKernelError(b)) return b;
  return openFds(w, fd) > 0 ? b : kernelError("EBADF", `every fd of buf ${fd} is closed`);
}
