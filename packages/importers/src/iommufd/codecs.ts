import { setCodec } from "@dmabuf-ref/core";
import { encodeWith, pushString, pushU64, equalWith } from "@dmabuf-ref/core/encoding";
import type { Codec, PagePiece } from "@dmabuf-ref/core";
import type { IovaInterval } from "./constants.js";
import type {
  IommufdArea,
  IommufdAreaRef,
  IommufdCtx,
  IommufdIoasObject,
  IommufdObject,
  IommufdPages,
  IommufdTrack,
} from "./types.js";

/*
 * Hand-written canonical encodings of iommufd's kernel objects (DESIGN
 * §2a): every field enters, strings through `pushString`, u64 quantities
 * through `pushU64`, booleans and enums as small integers, lists as their
 * length then their elements, optional fields behind a presence word.
 */

function pushNumbers(out: number[], xs: readonly number[]): void {
  out.push(xs.length);
  for (const x of xs) out.push(x);
}

function pushRefs(out: number[], refs: readonly IommufdAreaRef[]): void {
  out.push(refs.length);
  for (const r of refs) {
    out.push(r.ioas);
    pushU64(out, r.iova);
  }
}

function pushTrack(out: number[], t: IommufdTrack): void {
  out.push(t.ioas);
  pushU64(out, t.iova);
  out.push(t.domain, t.att === undefined ? 0 : 1, t.att ?? 0);
}

function pushPieces(out: number[], pieces: readonly PagePiece[] | null): void {
  if (pieces === null) {
    out.push(0);
    return;
  }
  out.push(1, pieces.length);
  for (const p of pieces) {
    pushU64(out, p.start);
    pushU64(out, p.len);
    pushU64(out, p.phys);
    pushString(out, p.region);
    out.push(p.memfd === null ? 0 : 1, p.memfd ?? 0);
  }
}

function sameNumbers(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Canonical encoding of a `struct iopt_area` ({@link IommufdArea}): IOVA,
 * length, offset, pages id, the `IOMMU_READ`/`IOMMU_WRITE` bits and the
 * oracle grants it gives, in order.
 */
export const iommufdAreaCodec: Codec<IommufdArea> = {
  seed: 0x10fa,
  encode(a, out) {
    pushU64(out, a.iova);
    pushU64(out, a.length);
    pushU64(out, a.offset);
    out.push(a.pages, (a.read ? 1 : 0) | (a.write ? 2 : 0));
    pushNumbers(out, a.grants);
  },
};

/**
 * Canonical encoding of a `struct iopt_pages` ({@link IommufdPages}): its
 * type (user memory 1, dma-buf 2, memfd 3), then that type's fields, then the areas
 * that hold a reference to it.
 */
export const iommufdPagesCodec: Codec<IommufdPages> = {
  seed: 0x10fb,
  encode(p, out) {
    switch (p.kind) {
      case "user":
        out.push(1);
        pushString(out, p.process);
        pushU64(out, p.userVa);
        pushU64(out, p.length);
        out.push(p.writable ? 1 : 0);
        pushPieces(out, p.pinned);
        break;
      case "file":
        out.push(3, p.fd);
        pushU64(out, p.start);
        pushU64(out, p.length);
        out.push(p.writable ? 1 : 0);
        pushPieces(out, p.pinned);
        break;
      case "dmabuf":
        out.push(2, p.buf, p.att, p.phys.length);
        for (const v of p.phys) {
          pushU64(out, v.paddr);
          pushU64(out, v.len);
        }
        out.push(p.mappedBy === "iommufd" ? 0 : 1, p.revoked ? 1 : 0);
        pushU64(out, p.start);
        pushU64(out, p.length);
        out.push(p.tracker.length);
        for (const t of p.tracker) pushTrack(out, t);
        break;
    }
    pushRefs(out, p.users);
  },
};

const areaSet = setCodec(iommufdAreaCodec);

// The IOAS's scalar state after its areas and domains: alignment, the
// large-page switch, the allowed ranges and the test's reserved ranges.
function pushIoasRest(out: number[], o: IommufdIoasObject): void {
  pushU64(out, o.iovaAlignment);
  out.push(o.disableLargePages ? 1 : 0);
  pushIntervals(out, o.allowed);
  pushIntervals(out, o.testReserved);
}

function pushIntervals(out: number[], list: readonly IovaInterval[]): void {
  out.push(list.length);
  for (const r of list) {
    pushU64(out, r.start);
    pushU64(out, r.last);
  }
}

/** Canonical encoding of the context's own state ({@link IommufdCtx}). */
export const iommufdCtxCodec: Codec<IommufdCtx> = {
  seed: 0x10ff,
  encode(c, out) {
    out.push(c.accountMode);
    pushNumbers(out, c.releasing);
    // Object ids start at 1: 0 is "none".
    out.push(c.vfioIoas ?? 0);
  },
};

/**
 * Canonical encoding of one object of `ictx->objects` ({@link IommufdObject}):
 * its kind (IOAS 1, device 2, HWPT_PAGING 3), then its fields. An IOAS's
 * areas enter as a set (size and values hash: their table slots are the
 * model's, nothing the kernel or userspace sees), so two IOASes that mapped
 * the same areas in another order are equal.
 */
export const iommufdObjectCodec: Codec<IommufdObject> = {
  seed: 0x10fc,
  encode(o, out) {
    switch (o.kind) {
      case "ioas":
        out.push(1);
        areaSet.encode(o.areas, out);
        pushNumbers(out, o.domains);
        pushIoasRest(out, o);
        break;
      case "device":
        out.push(2);
        pushString(out, o.device);
        if (o.attach === null) {
          out.push(0);
        } else {
          const a = o.attach;
          out.push(1, a.ioas, a.hwpt, a.domain);
          out.push(a.previousDomain === null ? 0 : 1, a.previousDomain ?? 0);
        }
        break;
      case "hwpt":
        out.push(3, o.ioas, o.domain, o.auto ? 1 : 0);
        pushU64(out, o.pgsizeBitmap);
        pushU64(out, o.aperture.start);
        pushU64(out, o.aperture.last);
        break;
    }
  },
  equals(a, b) {
    if (a.kind === "ioas" && b.kind === "ioas") {
      const restA: number[] = [];
      const restB: number[] = [];
      pushIoasRest(restA, a);
      pushIoasRest(restB, b);
      return (
        sameNumbers(a.domains, b.domains) &&
        sameNumbers(restA, restB) &&
        equalWith(areaSet, a.areas, b.areas)
      );
    }
    return sameNumbers(encodeWith(iommufdObjectCodec, a), encodeWith(iommufdObjectCodec, b));
  },
};

/** Canonical encoding of a list of object ids, in order (the attached devices). */
export const objectIdsCodec: Codec<readonly number[]> = {
  seed: 0x10fd,
  encode(ids, out) {
    pushNumbers(out, ids);
  },
};

/** Canonical encoding of a pages id (the value of the attachment index). */
export const pagesIdCodec: Codec<number> = {
  seed: 0x10fe,
  encode(id, out) {
    out.push(id);
  },
};
