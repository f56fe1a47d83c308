// pack-check: must fail naming "a revoke completes in bounded steps once every importer unmapped"
import { importerContract } from "@dmabuf-ref/contracts";
import { ignoresInvalidate } from "@dmabuf-ref/contracts/zoo";
importerContract(() => ignoresInvalidate.harness());
