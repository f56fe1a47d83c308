import { importerContract } from "@dmabuf-ref/contracts";
import { myImporter } from "./my-importer.mjs";
importerContract(() => myImporter());
