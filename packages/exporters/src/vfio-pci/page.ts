/**
 * `PAGE_SIZE` on x86-64: ranges must be multiples of it (kernel-model §2.2 step 4).
 *
 * @category Drivers
 */
export const PAGE_SIZE = 0x1000n;
