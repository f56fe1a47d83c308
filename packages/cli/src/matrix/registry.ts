import type { ExporterRecipe, ImporterRecipe } from "./recipes.js";
import { kvmRecipe } from "./kvm-recipe.js";
import { rdmaOdpRecipe, rdmaPinnedRecipe, rdmaPinnedRevocableRecipe } from "./rdma-recipes.js";
import { gpuRecipe, iommufdRecipe, rdmaRecipe, vfioRecipe } from "./recipes.js";

/** The exporter rows of `dmabuf-ref matrix`, in order. */
export const MATRIX_EXPORTERS: readonly ExporterRecipe[] = [vfioRecipe, gpuRecipe, rdmaRecipe];

/** The importer columns of `dmabuf-ref matrix`, in order. */
export const MATRIX_IMPORTERS: readonly ImporterRecipe[] = [
  iommufdRecipe,
  kvmRecipe,
  rdmaOdpRecipe,
  rdmaPinnedRecipe,
  rdmaPinnedRevocableRecipe,
];
