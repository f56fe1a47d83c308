import type { Errno } from "@dmabuf-ref/core";

/** Where an import was refused: the stage that returned the errno (DESIGN §3.2). */
export type MatrixStage =
  | "negotiation"
  | "exporter attach"
  | "dma_buf_pin"
  | "private phys lookup"
  | "first map"
  | "import";

/** How the attachment lives once made. */
export interface MatrixLifetime {
  /** `dma_buf_attach_revocable()`: dynamic with an invalidation callback. */
  readonly revocable: boolean;
  /** The exporter may move the memory and the importer follows (re-maps). */
  readonly movable: boolean;
  /** The attachment holds a pin. */
  readonly pinned: boolean;
}

/** One exporter x importer cell of `dmabuf-ref matrix`. */
export type MatrixCell =
  | {
      /** The exporter driver. */
      readonly exporter: string;
      /** The importer driver. */
      readonly importer: string;
      /** Attach, pin and the first map succeeded. */
      readonly ok: true;
      /** The importer-side mapping type (DESIGN §3.1 id). */
      readonly type: string;
      /** The converter core inserted, e.g. `pal->iommu-domain`. */
      readonly converter?: string;
      /** How the attachment lives. */
      readonly lifetime: MatrixLifetime;
    }
  | {
      /** The exporter driver. */
      readonly exporter: string;
      /** The importer driver. */
      readonly importer: string;
      /** Refused. */
      readonly ok: false;
      /** The bare errno, or null when a driver does not exist in the profile. */
      readonly errno: Errno | null;
      /** One line: why. */
      readonly reason: string;
      /** The stage that refused (absent when a driver does not exist). */
      readonly stage?: MatrixStage;
    };
