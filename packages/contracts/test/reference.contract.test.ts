/*
 * Core's reference exporter and reference importer (the suites' own
 * partners, under test themselves) pass their contract suites (issue 13,
 * item 2), in the harnesses the bug zoo runs its wrong variants in.
 */
import { referenceImporter } from "@dmabuf-ref/core";
import { exporterContract, importerContract } from "@dmabuf-ref/contracts";
import { dynamicImporterUnderTest, referenceExporterUnderTest } from "@dmabuf-ref/contracts/zoo";

exporterContract(() => referenceExporterUnderTest());

importerContract(() => dynamicImporterUnderTest(referenceImporter()));
