/*
 * The UALink type, exporter and importer pass the three contract suites
 * of @dmabuf-ref/contracts (issue 13, item 3), the drivers under mainline
 * v7.1 (no negotiation: the legacy SGT path) and under `ualink-rfc` (the
 * negotiation with the UALink type in force).
 */
import { describe } from "vitest";
import { exporterContract, importerContract, mappingTypeContract } from "@dmabuf-ref/contracts";
import { FABRIC, FABRIC_BASE, FAR_NIC, NIC, OTHER_FABRIC, ualink } from "../src/index.js";
import { exporterUnderTest, importerUnderTest } from "./harnesses.js";

mappingTypeContract(ualink, {
  exporterData: [
    { fabric: FABRIC, pod: 0 },
    { fabric: OTHER_FABRIC, pod: 3 },
  ],
  importerData: [
    { port: NIC, fabric: FABRIC, linkUp: true },
    { port: NIC, fabric: FABRIC, linkUp: false },
    { port: FAR_NIC, fabric: OTHER_FABRIC, linkUp: true },
  ],
  payloads: [
    { ranges: [{ fabricAddr: FABRIC_BASE, length: 0x2000n }] },
    {
      ranges: [
        { fabricAddr: FABRIC_BASE, length: 0x1000n },
        { fabricAddr: FABRIC_BASE + 0x10_0000n, length: 0x1000n },
      ],
    },
  ],
  invalid: {
    exporterData: [
      { fabric: "UAL 0", pod: 0 },
      { fabric: FABRIC, pod: -1 },
      { fabric: FABRIC, pod: 0, rail: 2 },
    ],
    importerData: [
      { port: "", fabric: FABRIC, linkUp: true },
      { port: NIC, fabric: FABRIC },
    ],
    payloads: [{ ranges: [] }, { ranges: [{ fabricAddr: FABRIC_BASE, length: 0n }] }],
  },
});

// The exporter twice: to the UALink port (fabric addresses) and to a PCIe
// function behind the IOMMU (its SGT path).
describe("from the UALink port", () => {
  exporterContract(() => exporterUnderTest());
});
describe("from a PCIe function", () => {
  exporterContract(() => exporterUnderTest(undefined, "pcie"));
});

importerContract(() => importerUnderTest());
