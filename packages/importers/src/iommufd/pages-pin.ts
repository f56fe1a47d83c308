/*
 * pages.c, continued: getting at the memory behind user and memfd pages
 * (kept apart from pages.ts for size). Models `pfn_reader_user_pin`'s
 * `pin_user_pages` / `memfd_pin_folios` through core's mm (pinnedPages) and
 * the unpinned lookup `iopt_pages_rw_access` makes (lookedUpPages).
 */
import { err, memfdPages, ok, pinMemfdPages, pinUserPages, userPages } from "@dmabuf-ref/core";
import type { Machine, Result, World } from "@dmabuf-ref/core";
import type { IommufdPages } from "./types.js";

/**
 * Pins the memory behind user or memfd pages if nothing pinned it yet
 * (`pfn_reader_user_pin`: `pin_user_pages` FOLL_LONGTERM of the process's
 * range, with FOLL_WRITE when the pages are writable, or
 * `memfd_pin_folios` of the file range), as the first fill into a domain
 * does. A range holding page 0, unbacked or munmapped memory, or a device
 * or dma-buf mmap (VM_PFNMAP) is `EFAULT`; memfd pages past the end of the
 * file are `EINVAL`; a memfd fd no longer open is `EBADF` (the model keeps
 * no file reference of its own). Dma-buf pages and pinned pages come back
 * as they are (the same object).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param pages - the pages.
 * @returns the world holding the pins and the pages with `pinned` set, or the errno.
 * @kernel drivers/iommu/iommufd/pages.c pfn_reader_user_pin
 */
export function pinnedPages(
  m: Machine,
  w: World,
  pages: IommufdPages,
): Result<{ readonly world: World; readonly pages: IommufdPages }> {
  if (pages.kind === "dmabuf" || pages.pinned !== null) return ok({ world: w, pages });
  if (pages.kind === "user") {
    const pinned = pinUserPages(m, w, pages.process, pages.userVa, pages.length, {
      write: pages.writable,
    });
    if (!pinned.ok) return pinned;
    return ok({ world: pinned.value.world, pages: { ...pages, pinned: pinned.value.pieces } });
  }
  const pinned = pinMemfdPages(m, w, pages.fd, pages.start, pages.length);
  if (pinned === undefined) return err("EBADF", () => `fd ${pages.fd} is no longer an open memfd`);
  if (!pinned.ok) return pinned;
  return ok({ world: pinned.value.world, pages: { ...pages, pinned: pinned.value.pieces } });
}

/**
 * The pages as they stand or, for user or memfd pages nobody pinned yet,
 * as a pin would find them now (a lookup that pins nothing, as
 * `iopt_pages_rw_access` reads unpinned pages): `EFAULT`/`EINVAL`/`EBADF`
 * as {@link pinnedPages}.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param pages - the pages.
 * @returns the pages with `pinned` filled in (only in the returned value), or the errno.
 */
export function lookedUpPages(m: Machine, w: World, pages: IommufdPages): Result<IommufdPages> {
  if (pages.kind === "dmabuf" || pages.pinned !== null) return ok(pages);
  if (pages.kind === "user") {
    const found = userPages(m, w, pages.process, pages.userVa, pages.length);
    return found.ok ? ok({ ...pages, pinned: found.value }) : found;
  }
  const found = memfdPages(m, w, pages.fd, pages.start, pages.length);
  if (found === undefined) return err("EBADF", () => `fd ${pages.fd} is no longer an open memfd`);
  return found.ok ? ok({ ...pages, pinned: found.value }) : found;
}
