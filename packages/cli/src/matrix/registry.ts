import type { ExporterRecipe, ImporterRecipe } from "./recipes.js";
import { iommufdRecipe, vfioRecipe } from "./recipes.js";

/** The exporter rows of `dmabuf-ref matrix`, in order. */
export const MATRIX_EXPORTERS: readonly ExporterRecipe[] = [vfioRecipe];

/** The importer columns of `dmabuf-ref matrix`, in order. */
export const MATRIX_IMPORTERS: readonly ImporterRecipe[] = [iommufdRecipe];
