import { EMAIL_WIDTH, attachRevocable, boot, wrapLine } from "@dmabuf-ref/core";
import type { Machine, Profile } from "@dmabuf-ref/core";
import type { MatrixCell } from "./cell.js";
import type { ExporterRecipe, ImporterRecipe } from "./recipes.js";

/**
 * Every exporter x importer cell under a profile: on a fresh machine per
 * cell, export one buffer, then attach + (pin) + first map with the
 * importer (issue 5's definition of a cell). A driver absent from the
 * profile gives `errno: null` and "not in <profile>".
 *
 * @param profile - the profile.
 * @param machine - builds the machine for a profile.
 * @param exporters - the exporter rows.
 * @param importers - the importer columns.
 * @returns the cells, exporter-major.
 */
export function computeMatrix(
  profile: Profile,
  machine: (p: Profile) => Machine,
  exporters: readonly ExporterRecipe[],
  importers: readonly ImporterRecipe[],
): MatrixCell[] {
  const cells: MatrixCell[] = [];
  const m = machine(profile);
  for (const e of exporters) {
    for (const i of importers) {
      const who = { exporter: e.name, importer: i.name };
      const absent = i.absentReason(profile);
      if (absent !== undefined) {
        cells.push({ ...who, ok: false, errno: null, reason: absent });
        continue;
      }
      const exported = e.export(m, boot(m));
      if (!exported.ok) {
        cells.push({
          ...who,
          ok: false,
          errno: exported.errno,
          reason: exported.reason,
          stage: exported.stage,
        });
        continue;
      }
      const imported = i.import(m, exported.world, exported.buf);
      if (!imported.ok) {
        cells.push({
          ...who,
          ok: false,
          errno: imported.errno,
          reason: imported.reason,
          stage: imported.stage,
        });
        continue;
      }
      const att = imported.world.atts.get(imported.att);
      if (att === undefined)
        throw new Error(`${i.name} reported attachment ${imported.att}, which does not exist`);
      const revocable = attachRevocable(att);
      const pinned = att.pins > 0;
      cells.push({
        ...who,
        ok: true,
        type: att.mapType,
        ...(att.converter === null ? {} : { converter: att.converter }),
        lifetime: { revocable, movable: e.moves && revocable && !pinned, pinned },
      });
    }
  }
  return cells;
}

/**
 * One line per cell, at most `width` columns: what a maintainer pastes into
 * an email to answer "which importer can use which exporter here?".
 *
 * @param profile - the profile id (the title).
 * @param cells - the matrix.
 * @param width - the column limit (100).
 * @returns the table.
 */
export function renderMatrix(
  profile: string,
  cells: readonly MatrixCell[],
  width = EMAIL_WIDTH,
): string {
  const ew = Math.max(8, ...cells.map((c) => c.exporter.length));
  const iw = Math.max(8, ...cells.map((c) => c.importer.length));
  const lines = [
    `dma-buf import matrix under ${profile}`,
    `${"exporter".padEnd(ew)}  ${"importer".padEnd(iw)}  result`,
  ];
  for (const c of cells) {
    const prefix = `${c.exporter.padEnd(ew)}  ${c.importer.padEnd(iw)}  `;
    wrapLine(describeCell(c), width - prefix.length, 0).forEach((part, k) => {
      lines.push((k === 0 ? prefix : " ".repeat(prefix.length)) + part);
    });
  }
  return lines.join("\n") + "\n";
}

/**
 * A cell in a few words.
 *
 * @param c - the cell.
 * @returns e.g. `"ok sgt (revocable)"` or `"EOPNOTSUPP at exporter attach: …"`.
 */
export function describeCell(c: MatrixCell): string {
  if (c.ok) {
    const traits = [
      c.lifetime.revocable ? "revocable" : "not revocable",
      ...(c.lifetime.movable ? ["movable"] : []),
      ...(c.lifetime.pinned ? ["pinned"] : []),
    ];
    return `ok ${c.type}${c.converter === undefined ? "" : ` via ${c.converter}`} (${traits.join(", ")})`;
  }
  if (c.errno === null) return c.reason;
  return `${c.errno}${c.stage === undefined ? "" : ` at ${c.stage}`}: ${c.reason}`;
}

/**
 * Two cells differ when anything a maintainer would read differs; a driver
 * absent from both profiles is the same outcome whatever the profile's name.
 */
function sameCell(a: MatrixCell, b: MatrixCell): boolean {
  if (!a.ok && !b.ok && a.errno === null && b.errno === null) return true;
  return describeCell(a) === describeCell(b);
}

/** One differing cell of `dmabuf-ref matrix --diff`. */
export interface MatrixDiff {
  /** The exporter. */
  readonly exporter: string;
  /** The importer. */
  readonly importer: string;
  /** The cell under the first profile. */
  readonly before: MatrixCell;
  /** The cell under the second profile. */
  readonly after: MatrixCell;
}

/**
 * The cells that differ between two matrices of the same drivers.
 *
 * @param before - the first profile's matrix.
 * @param after - the second's.
 * @returns only the differing cells, with both outcomes.
 */
export function diffMatrix(
  before: readonly MatrixCell[],
  after: readonly MatrixCell[],
): MatrixDiff[] {
  const out: MatrixDiff[] = [];
  before.forEach((b, k) => {
    const a = after[k];
    if (a === undefined || a.exporter !== b.exporter || a.importer !== b.importer) {
      throw new Error("matrices of different drivers");
    }
    if (!sameCell(b, a))
      out.push({ exporter: b.exporter, importer: b.importer, before: b, after: a });
  });
  return out;
}
