// Generates docs/kernel-index.md: for every kernel symbol the model's TSDoc
// names, the model symbols that model or cite it and where they are, so a
// maintainer finds the model of a kernel function in one hop (issue 11,
// item 5). The sources are read with the TypeScript compiler API, never
// executed; the output is formatted with prettier so `prettier --check .`
// accepts it, and is byte-for-byte deterministic for a given tree.
//
// Usage (from the repository root):
//   pnpm kernel-index            write docs/kernel-index.md
//   pnpm kernel-index --check    exit 1 with a message when it is not current
//   ... --file <path>            read or write <path> instead of docs/kernel-index.md
//   ... --root <dir>             index <dir>/packages/*/src instead (tests use it)
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as prettier from "prettier";
import ts from "typescript";

/** The repository root (this file lives in scripts/). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** Where the index is written, from the repository root. */
export const INDEX_PATH = "docs/kernel-index.md";

/**
 * Lower-case (snake_case) prefixes of kernel symbols. A backticked
 * snake_case identifier that starts with one of them is a kernel symbol.
 * Model symbols are camelCase or PascalCase, so none of them can match.
 */
export const KERNEL_PREFIXES: readonly string[] = [
  "__vfio_",
  "batch_",
  "dma_buf_",
  "dma_fence",
  "dma_iova_",
  "dma_map_",
  "dma_resv_",
  "dma_unmap_",
  "drm_",
  "ib_umem_",
  "iommu_",
  "iommufd_",
  "iopt_",
  "kvm_",
  "mlx5_",
  "p2pdma_",
  "pci_",
  "pcim_",
  "rdma_",
  "sym_vfio_",
  "ttm_",
  "vfio_",
];

/** Upper-case (macro, constant, uAPI) prefixes of kernel symbols. */
export const KERNEL_MACRO_PREFIXES: readonly string[] = [
  "CONFIG_",
  "DMA_",
  "IOMMUFD_",
  "IOMMU_",
  "IOPT_",
  "KVM_",
  "PCI_",
  "TTM_",
  "VFIO_",
];

/**
 * Where a kernel symbol is defined, by longest matching prefix (or exact
 * name). Only what kernel-model.md states; a symbol no entry covers is
 * listed under "kernel file not recorded". An `@kernel` tag that names a
 * file overrides this table.
 */
export const KERNEL_FILES: readonly (readonly [string, string])[] = [
  // Checked against torvalds/linux or the posted patch (an exact name wins
  // over a prefix; a longer prefix over a shorter one).
  ["dma_resv_lock", "include/linux/dma-resv.h"],
  ["dma_resv_unlock", "include/linux/dma-resv.h"],
  ["dma_resv_assert_held", "include/linux/dma-resv.h"],
  ["dma_buf", "include/linux/dma-buf.h"],
  ["vfio_pci_core_device", "include/linux/vfio_pci_core.h"],
  ["VFIO_PCI_INDEX_TO_OFFSET", "include/linux/vfio_pci_core.h"],
  ["VFIO_PCI_OFFSET_SHIFT", "include/linux/vfio_pci_core.h"],
  ["vfio_check_feature", "include/linux/vfio.h"],
  ["vfio_df_", "drivers/vfio/device_cdev.c"],
  ["vfio_config_do_rw", "drivers/vfio/pci/vfio_pci_config.c"],
  ["vfio_exp_config_write", "drivers/vfio/pci/vfio_pci_config.c"],
  ["vfio_pm_config_write", "drivers/vfio/pci/vfio_pci_config.c"],
  ["iommufd_get_hw_info", "drivers/iommu/iommufd/device.c"],
  ["iommufd_hwpt_", "drivers/iommu/iommufd/hw_pagetable.c"],
  ["iommufd_option_rlimit_mode", "drivers/iommu/iommufd/ioas.c"],
  ["iopt_area", "drivers/iommu/iommufd/io_pagetable.h"],
  ["iopt_area_split", "drivers/iommu/iommufd/io_pagetable.c"],
  ["iopt_pages", "drivers/iommu/iommufd/io_pagetable.h"],
  ["iopt_pages_dmabuf", "drivers/iommu/iommufd/io_pagetable.h"],
  ["iopt_pages_dmabuf_track", "drivers/iommu/iommufd/io_pagetable.h"],
  ["iopt_is_dmabuf", "drivers/iommu/iommufd/io_pagetable.h"],
  ["io_pagetable", "drivers/iommu/iommufd/io_pagetable.h"],
  ["pfn_reader_", "drivers/iommu/iommufd/pages.c"],
  ["ib_umem_dmabuf", "include/rdma/ib_umem.h"],
  ["kvm_memory_slot", "include/linux/kvm_host.h"],
  ["kvm_vfio_dmabuf_", "virt/kvm/vfio_dmabuf.c"],
  ["pin_user_pages", "mm/gup.c"],
  ["unpin_user_pages", "mm/gup.c"],
  ["memfd_pin_folios", "mm/gup.c"],
  ["do_mmap", "mm/mmap.c"],
  ["copy_struct_from_user", "include/linux/uaccess.h"],
  ["roundup_pow_of_two", "include/linux/log2.h"],
  ["CONFIG_", "Kconfig"],
  ["DMA_BUF_", "include/linux/dma-buf-mapping.h"],
  ["DMA_IOVA_", "include/linux/dma-mapping.h"],
  ["DMA_RESV_", "include/linux/dma-resv.h"],
  ["IOMMUFD_OBJ_", "drivers/iommu/iommufd/iommufd_private.h"],
  ["IOMMUFD_", "include/uapi/linux/iommufd.h"],
  ["IOMMU_RESV_", "include/linux/iommu.h"],
  ["IOMMU_READ", "include/linux/iommu.h"],
  ["IOMMU_WRITE", "include/linux/iommu.h"],
  ["IOMMU_CACHE", "include/linux/iommu.h"],
  ["IOMMU_MMIO", "include/linux/iommu.h"],
  ["IOMMU_TEST_", "drivers/iommu/iommufd/iommufd_test.h"],
  ["IOMMU_", "include/uapi/linux/iommufd.h"],
  ["IOPT_", "drivers/iommu/iommufd/io_pagetable.h"],
  ["KVM_", "include/uapi/linux/kvm.h"],
  ["PCI_", "include/uapi/linux/pci_regs.h"],
  ["TTM_", "include/drm/ttm/ttm_placement.h"],
  ["VFIO_", "include/uapi/linux/vfio.h"],
  ["__vfio_pci_memory_enabled", "drivers/vfio/pci/vfio_pci_config.c"],
  ["batch_", "drivers/iommu/iommufd/pages.c"],
  ["dma_buf_attach_ops", "include/linux/dma-buf.h"],
  ["dma_buf_ops", "include/linux/dma-buf.h"],
  ["dma_buf_attachment", "include/linux/dma-buf.h"],
  ["dma_buf_is_dynamic", "include/linux/dma-buf.h"],
  ["dma_buf_phys_vec_to_sgt", "drivers/dma-buf/dma-buf-mapping.c"],
  ["dma_buf_free_sgt", "drivers/dma-buf/dma-buf-mapping.c"],
  ["dma_buf_mapping_", "include/linux/dma-buf-mapping.h"],
  ["dma_buf_match_", "include/linux/dma-buf-mapping.h"],
  ["dma_buf_pal_", "drivers/dma-buf/dma-buf-mapping.c"],
  ["dma_buf_sgt_", "drivers/dma-buf/dma-buf-mapping.c"],
  ["dma_buf_phys_list", "include/linux/dma-buf-mapping.h"],
  ["dma_buf_get_pfn", "drivers/dma-buf/dma-buf.c"],
  ["dma_buf_", "drivers/dma-buf/dma-buf.c"],
  ["dma_fence", "drivers/dma-buf/dma-fence.c"],
  ["dma_iova_", "drivers/iommu/dma-iommu.c"],
  ["dma_map_phys", "kernel/dma/mapping.c"],
  ["dma_map_", "kernel/dma/mapping.c"],
  ["dma_unmap_", "kernel/dma/mapping.c"],
  ["dma_resv_", "drivers/dma-buf/dma-resv.c"],
  ["drm_gem_prime_", "drivers/gpu/drm/drm_prime.c"],
  ["ib_umem_dmabuf_", "drivers/infiniband/core/umem_dmabuf.c"],
  ["ib_umem_", "drivers/infiniband/core/umem.c"],
  ["iommu_domain", "include/linux/iommu.h"],
  ["iommu_ioas_", "include/uapi/linux/iommufd.h"],
  ["iommu_destroy", "include/uapi/linux/iommufd.h"],
  ["iommu_map", "drivers/iommu/iommu.c"],
  ["iommu_unmap", "drivers/iommu/iommu.c"],
  ["iommufd_access_", "drivers/iommu/iommufd/device.c"],
  ["iommufd_device_", "drivers/iommu/iommufd/device.c"],
  ["iommufd_global_device", "drivers/iommu/iommufd/main.c"],
  ["iommufd_ioas_", "drivers/iommu/iommufd/ioas.c"],
  ["iommufd_object_", "drivers/iommu/iommufd/main.c"],
  ["iommufd_ucmd_respond", "drivers/iommu/iommufd/iommufd_private.h"],
  ["iommufd_get_ioas", "drivers/iommu/iommufd/iommufd_private.h"],
  ["iommufd_", "drivers/iommu/iommufd/main.c"],
  ["iopt_area_", "drivers/iommu/iommufd/pages.c"],
  ["iopt_dmabuf_", "drivers/iommu/iommufd/pages.c"],
  ["iopt_map_dmabuf", "drivers/iommu/iommufd/pages.c"],
  ["iopt_pages_", "drivers/iommu/iommufd/pages.c"],
  ["iopt_release_pages", "drivers/iommu/iommufd/pages.c"],
  ["iopt_revoke_notify", "drivers/iommu/iommufd/pages.c"],
  ["iopt_", "drivers/iommu/iommufd/io_pagetable.c"],
  ["kvm_", "virt/kvm/kvm_main.c"],
  ["kvm_mmu_", "arch/x86/kvm/mmu/mmu.c"],
  ["kvm_faultin_pfn", "arch/x86/kvm/mmu/mmu.c"],
  ["kvm_userspace_memory_region2", "include/uapi/linux/kvm.h"],
  ["mlx5_ib_", "drivers/infiniband/hw/mlx5/mr.c"],
  ["p2pdma_", "drivers/pci/p2pdma.c"],
  ["pci_p2pdma_", "drivers/pci/p2pdma.c"],
  ["pcim_p2pdma_", "drivers/pci/p2pdma.c"],
  ["pci_reset_bus", "drivers/pci/pci.c"],
  ["pci_try_reset_function", "drivers/pci/pci.c"],
  ["pci_resource_", "include/linux/pci.h"],
  ["rdma_user_mmap_", "drivers/infiniband/core/ib_core_uverbs.c"],
  ["sym_vfio_pci_dma_buf_iommufd_map", "drivers/iommu/iommufd/pages.c"],
  ["ttm_bo_", "drivers/gpu/drm/ttm/ttm_bo.c"],
  ["vfio_basic_config_write", "drivers/vfio/pci/vfio_pci_config.c"],
  ["validate_dmabuf_input", "drivers/vfio/pci/vfio_pci_dmabuf.c"],
  ["pci_ops.get_dmabuf_phys", "include/linux/vfio_pci_core.h"],
  ["pci_request_selected_regions", "drivers/pci/pci.c"],
  ["copy_to_user", "include/linux/uaccess.h"],
  ["memdup_array_user", "include/linux/string.h"],
  ["memfd_create", "mm/memfd.c"],
  ["do_vmi_munmap", "mm/vma.c"],
  ["vma_merge", "mm/vma.c"],
  ["find_vma", "mm/mmap.c"],
  ["vm_unmapped_area", "mm/mmap.c"],
  ["wait_for_completion", "kernel/sched/completion.c"],
  ["iommu_hw_info", "include/uapi/linux/iommufd.h"],
  ["iommu_hwpt_", "include/uapi/linux/iommufd.h"],
  ["iommu_option", "include/uapi/linux/iommufd.h"],
  ["iommufd_ctx", "drivers/iommu/iommufd/iommufd_private.h"],
  ["iommufd_ioas", "drivers/iommu/iommufd/iommufd_private.h"],
  ["iommufd_device", "drivers/iommu/iommufd/iommufd_private.h"],
  ["iommufd_hwpt_paging", "drivers/iommu/iommufd/iommufd_private.h"],
  ["vfio_device_bind_iommufd", "include/uapi/linux/vfio.h"],
  ["vfio_device_attach_iommufd_pt", "include/uapi/linux/vfio.h"],
  ["vfio_device_detach_iommufd_pt", "include/uapi/linux/vfio.h"],
  ["vfio_device_set", "include/linux/vfio.h"],
  ["vfio_pci_config_rw", "drivers/vfio/pci/vfio_pci_config.c"],
  ["symbol_get", "include/linux/module.h"],
  ["iommu_iova_range", "include/uapi/linux/iommufd.h"],
  ["ttm_buffer_object", "include/drm/ttm/ttm_bo.h"],
  ["ttm_device", "include/drm/ttm/ttm_device.h"],
  ["vfio_device_feature", "include/uapi/linux/vfio.h"],
  ["vfio_region_dma_range", "include/uapi/linux/vfio.h"],
  ["vfio_device_", "drivers/vfio/vfio_main.c"],
  ["vfio_ioctl_device_feature", "drivers/vfio/vfio_main.c"],
  ["vfio_unregister_group_dev", "drivers/vfio/vfio_main.c"],
  ["vfio_lock_and_set_power_state", "drivers/vfio/pci/vfio_pci_config.c"],
  ["vfio_pci_core_feature_dma_buf", "drivers/vfio/pci/vfio_pci_dmabuf.c"],
  ["vfio_pci_core_fill_phys_vec", "drivers/vfio/pci/vfio_pci_dmabuf.c"],
  ["vfio_pci_dma_buf", "drivers/vfio/pci/vfio_pci_dmabuf.c"],
  ["vfio_pci_dmabuf", "drivers/vfio/pci/vfio_pci_dmabuf.c"],
  ["vfio_pci_", "drivers/vfio/pci/vfio_pci_core.c"],
];

/**
 * Names that look like kernel symbols by the rule but are the model's own
 * shorthands (the replay's `feature: DMA_BUF`).
 */
export const NOT_KERNEL: readonly string[] = ["DMA_BUF"];

/** One row of the index: a kernel symbol and a model symbol that names it. */
export interface IndexEntry {
  /** The kernel symbol, without `()` (a member as `struct_name.member`). */
  readonly kernel: string;
  /** The kernel file it is defined in, or null when none is recorded. */
  readonly kernelFile: string | null;
  /** The model symbol, qualified by its container (`Outer.member`). */
  readonly model: string;
  /** The source file, from the repository root. */
  readonly file: string;
  /** The 1-based line of the model symbol's name. */
  readonly line: number;
  /** `tag`: named by an `@kernel` tag (the model of it); `doc`: cited in the TSDoc text. */
  readonly how: "tag" | "doc";
}

const IDENT = String.raw`_*[A-Za-z][A-Za-z0-9_]*`;
/** A backticked reference: `struct x`, `x`, `x()`, `x.member`, `x->member`. */
const REFERENCE = new RegExp(String.raw`^(?:struct\s+)?(${IDENT})((?:(?:\.|->)${IDENT})*)(\(\))?$`);

/**
 * Whether a bare identifier is a kernel symbol by the index's rule: snake
 * case (lower case, digits and at least one `_`) with a kernel prefix; upper
 * case with a kernel macro prefix; or snake case written as a call (`x_y()`).
 *
 * @param name - the identifier, without `()`.
 * @param call - whether it was written as a call.
 * @returns true for a kernel symbol.
 */
export function isKernelIdentifier(name: string, call: boolean): boolean {
  if (NOT_KERNEL.includes(name)) return false;
  if (/^_*[a-z][a-z0-9]*(?:_[a-z0-9]+)+$/.test(name)) {
    return call || KERNEL_PREFIXES.some((p) => name.startsWith(p));
  }
  if (/^_*[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$/.test(name)) {
    return KERNEL_MACRO_PREFIXES.some((p) => name.startsWith(p));
  }
  return false;
}

/**
 * The kernel symbols a backticked span names, by the index's rule (see
 * {@link isKernelIdentifier}); a member access counts when its head does.
 *
 * @param span - the text between the backticks.
 * @returns the symbol (members joined with `.`), or null.
 */
export function kernelSymbolOf(span: string): string | null {
  const m = REFERENCE.exec(span.trim());
  if (m === null) return null;
  const head = m[1] ?? "";
  const members = (m[2] ?? "").replaceAll("->", ".");
  return isKernelIdentifier(head, m[3] !== undefined && members === "") ? head + members : null;
}

/** The kernel symbols a `@kernel` tag names, with the file stated before them. */
export interface KernelTag {
  /** The symbols, without `()`. */
  readonly symbols: readonly string[];
  /** The kernel file the tag names first, or null. */
  readonly file: string | null;
}

/**
 * Parses a `@kernel` tag's text: whitespace- or comma-separated tokens, each
 * a kernel symbol (backticks and `()` optional) or a kernel file (a token
 * with a `/` or ending in `.c`/`.h`), which applies to the symbols after it.
 *
 * @param text - the tag's text.
 * @returns the symbols with their files.
 */
export function parseKernelTag(text: string): { symbol: string; file: string | null }[] {
  let file: string | null = null;
  const out: { symbol: string; file: string | null }[] = [];
  for (const raw of text.split(/[\s,]+/)) {
    const token = raw.replaceAll("`", "").trim();
    if (token === "") continue;
    if (token.includes("/") || /\.[ch]$/.test(token)) {
      file = token;
      continue;
    }
    const m = REFERENCE.exec(token);
    if (m === null) continue;
    out.push({ symbol: (m[1] ?? "") + (m[2] ?? "").replaceAll("->", "."), file });
  }
  return out;
}

/**
 * The kernel file a symbol is recorded in by {@link KERNEL_FILES}: the
 * longest entry that is the symbol or a prefix of it.
 *
 * @param symbol - the kernel symbol (a member's struct decides).
 * @returns the file, or null when none is recorded.
 */
export function kernelFileOf(symbol: string): string | null {
  if (KERNEL_FILES.some(([name]) => name === symbol)) {
    return KERNEL_FILES.find(([name]) => name === symbol)?.[1] ?? null;
  }
  const head = symbol.split(".")[0] ?? symbol;
  let best: readonly [string, string] | undefined;
  for (const entry of KERNEL_FILES) {
    if (head.startsWith(entry[0]) && (best === undefined || entry[0].length > best[0].length)) {
      best = entry;
    }
  }
  return best?.[1] ?? null;
}

/**
 * Splits a doc comment into its text (tags' text included, fenced code left
 * out) and its `@kernel` tags' texts.
 *
 * @param comment - the raw `/** ... *\/` text.
 * @returns the prose and the `@kernel` tags' texts.
 */
export function splitDocComment(comment: string): { prose: string; kernelTags: string[] } {
  const lines = comment
    .replace(/^\/\*\*/, "")
    .replace(/\*\/$/, "")
    .split("\n")
    .map((l) => l.replace(/^\s*\*( |$)/, ""));
  const prose: string[] = [];
  const kernelTags: string[] = [];
  let inFence = false;
  let inKernel = false;
  for (const line of lines) {
    if (/^\s*```/.test(line)) {
      inFence = !inFence;
      continue;
    }
    if (inFence) continue;
    const tag = /^\s*(@[A-Za-z]+)\b(.*)$/.exec(line);
    if (tag !== null) {
      inKernel = tag[1] === "@kernel";
      if (inKernel) {
        kernelTags.push(tag[2] ?? "");
        continue;
      }
    }
    if (inKernel) {
      kernelTags.push(`${kernelTags.pop() ?? ""} ${line}`);
      continue;
    }
    prose.push(line);
  }
  return { prose: prose.join(" "), kernelTags };
}

/**
 * The kernel symbols one doc comment names: every `@kernel` tag's symbols,
 * then every backticked kernel symbol of its text (see {@link kernelSymbolOf}).
 *
 * @param comment - the raw doc comment.
 * @returns the symbols, each once, a tag's naming winning over a mention.
 */
export function kernelSymbolsOfComment(
  comment: string,
): { symbol: string; file: string | null; how: "tag" | "doc" }[] {
  const { prose, kernelTags } = splitDocComment(comment);
  const seen = new Map<string, { symbol: string; file: string | null; how: "tag" | "doc" }>();
  for (const t of kernelTags) {
    for (const { symbol, file } of parseKernelTag(t)) {
      if (!seen.has(symbol)) seen.set(symbol, { symbol, file, how: "tag" });
    }
  }
  for (const m of prose.matchAll(/`([^`]+)`/g)) {
    const symbol = kernelSymbolOf(m[1] ?? "");
    if (symbol !== null && !seen.has(symbol)) seen.set(symbol, { symbol, file: null, how: "doc" });
  }
  return [...seen.values()];
}

/** The name a declaration or member is indexed under, or undefined for an unnamed node. */
function nameOf(node: ts.Node): string | undefined {
  if (
    ts.isFunctionDeclaration(node) ||
    ts.isClassDeclaration(node) ||
    ts.isInterfaceDeclaration(node) ||
    ts.isTypeAliasDeclaration(node) ||
    ts.isEnumDeclaration(node) ||
    ts.isModuleDeclaration(node) ||
    ts.isVariableDeclaration(node) ||
    ts.isPropertySignature(node) ||
    ts.isPropertyDeclaration(node) ||
    ts.isMethodDeclaration(node) ||
    ts.isMethodSignature(node) ||
    ts.isPropertyAssignment(node) ||
    ts.isShorthandPropertyAssignment(node) ||
    ts.isGetAccessorDeclaration(node) ||
    ts.isEnumMember(node)
  ) {
    const name = node.name;
    if (name === undefined)
      return node.kind === ts.SyntaxKind.FunctionDeclaration ? "default" : undefined;
    if (ts.isIdentifier(name) || ts.isPrivateIdentifier(name)) return name.text;
    if (ts.isStringLiteral(name) || ts.isNumericLiteral(name)) return name.text;
    return undefined;
  }
  return undefined;
}

/** Whether a top-level statement is exported (`export` modifier or `export default`). */
function isExported(node: ts.Node): boolean {
  if (!ts.canHaveModifiers(node)) return false;
  return (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
}

/**
 * The index rows of one source file: each exported top-level declaration,
 * and each member or object-literal property inside it (not function
 * bodies), with the kernel symbols of its own doc comment.
 *
 * @param fileName - the path from the repository root (used in the rows).
 * @param text - the file's text.
 * @returns the rows, in source order.
 */
export function entriesOfSource(fileName: string, text: string): IndexEntry[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
  const rows: IndexEntry[] = [];
  const visit = (node: ts.Node, path: readonly string[]): void => {
    const name = nameOf(node);
    const here = name === undefined ? path : [...path, name];
    if (name !== undefined) {
      const docs = ts.getJSDocCommentsAndTags(node).filter(ts.isJSDoc);
      // A variable's comment sits on its statement: take it for the first
      // declarator only, so `export const a = 1, b = 2` is not doubled.
      const own =
        ts.isVariableDeclaration(node) &&
        ts.isVariableDeclarationList(node.parent) &&
        node.parent.declarations[0] !== node
          ? []
          : docs;
      const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
      const nameNode = (node as ts.NamedDeclaration).name;
      const nameLine =
        nameNode === undefined
          ? line
          : source.getLineAndCharacterOfPosition(nameNode.getStart(source)).line + 1;
      for (const doc of own) {
        for (const s of kernelSymbolsOfComment(text.slice(doc.pos, doc.end))) {
          rows.push({
            kernel: s.symbol,
            kernelFile: s.file ?? kernelFileOf(s.symbol),
            model: here.join("."),
            file: fileName,
            line: nameLine,
            how: s.how,
          });
        }
      }
    }
    ts.forEachChild(node, (child) => {
      // Function bodies hold locals, not the model's named parts.
      if (ts.isBlock(child) && !ts.isSourceFile(node)) return;
      if (ts.isJSDoc(child)) return;
      visit(child, here);
    });
  };
  for (const statement of source.statements) {
    if (!isExported(statement)) continue;
    visit(statement, []);
  }
  return rows;
}

/** The TypeScript sources the index covers: packages/*\/src/**\/*.ts, sorted. */
export function sourceFiles(root: string = REPO_ROOT): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) out.push(path);
    }
  };
  const packages = join(root, "packages");
  for (const pkg of readdirSync(packages, { withFileTypes: true })) {
    const src = join(packages, pkg.name, "src");
    if (pkg.isDirectory() && existsSync(src)) walk(src);
  }
  return out.map((p) => relative(root, p).split(sep).join("/")).sort(compare);
}

/** Plain code-unit order: the same on every machine and locale. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Wraps words into lines of at most `width` columns, each after `indent`.
 *
 * @returns the lines joined with newlines.
 */
function wrapWords(words: readonly string[], indent: string, width = 100): string {
  const lines: string[] = [];
  let line = "";
  for (const w of words) {
    if (line !== "" && indent.length + line.length + 1 + w.length > width) {
      lines.push(line);
      line = w;
    } else {
      line = line === "" ? w : `${line} ${w}`;
    }
  }
  if (line !== "") lines.push(line);
  return lines.map((l, i) => (i === 0 ? l : indent + l)).join("\n");
}

/** The header of the generated file: what it is, how it is made, and the rule. */
function header(): string {
  const code = (xs: readonly string[]): string[] =>
    xs.map((x, i) => `\`${x}\`${i < xs.length - 1 ? "," : ""}`);
  return `<!-- Generated by scripts/kernel-index.ts: do not edit. Regenerate with \`pnpm kernel-index\`. -->

# Kernel index: kernel symbol to model symbol

Every kernel symbol (function, macro, struct, uAPI constant) that the model's TSDoc names, with the
model symbols that name it and where they are. The rules themselves, with their kernel versions and
commits, are in [kernel-model.md](kernel-model.md).

How the index is made (\`scripts/kernel-index.ts\`, over \`packages/*/src/**/*.ts\`, read with the
TypeScript compiler API):

- **Which declarations:** every exported top-level declaration, and every member, property or
  object-literal property inside it (not function bodies), named \`Outer.member\`. Each row gives
  the file that declares it (no line numbers, so that an edit above a declaration does not make the
  index stale; search the file for the model symbol).
- **model** rows: the declaration's \`@kernel\` tag names the symbol
  (\`@kernel [path/in/kernel.c] symbol...\`): the declaration is the model of it.
- **cites** rows: the symbol is in backticks in the declaration's own doc comment (fenced code left
  out) and is a kernel symbol by this rule:
  - snake_case (lower case, digits, at least one \`_\`) starting with
    ${wrapWords(code(KERNEL_PREFIXES), "    ")};
  - UPPER_CASE starting with
    ${wrapWords([...code(KERNEL_MACRO_PREFIXES), "(except", "the", "model's", "own", ...code(NOT_KERNEL)], "    ")});
  - any snake_case name written as a call (\`name()\`).

  \`struct name\` counts as \`name\`; a member (\`a.b\`, \`a->b\`) counts when its head does. Model
  names are camelCase or PascalCase, so no model name matches; errno names, struct fields and
  syscalls (\`EINVAL\`, \`nr_ranges\`, \`mmap()\`) are left out.

- **Grouping:** by the kernel file the \`@kernel\` tag names, else the file the script's table
  (\`KERNEL_FILES\`) records for the symbol or its longest prefix; within a file, sorted by kernel
  symbol, then model rows first, then model symbol.
`;
}

/**
 * Renders the index as Markdown (before prettier).
 *
 * @param rows - every row, in any order.
 * @returns the document.
 */
export function renderIndex(rows: readonly IndexEntry[]): string {
  const NONE = "(kernel file not recorded)";
  const byFile = new Map<string, IndexEntry[]>();
  for (const r of rows) {
    const key = r.kernelFile ?? NONE;
    const list = byFile.get(key) ?? [];
    list.push(r);
    byFile.set(key, list);
  }
  const files = [...byFile.keys()].filter((f) => f !== NONE).sort(compare);
  if (byFile.has(NONE)) files.push(NONE);
  const kernelSymbols = new Set(rows.map((r) => r.kernel));
  const parts = [
    header(),
    `${kernelSymbols.size} kernel symbols, ${rows.length} rows, in ${files.length} kernel files.\n`,
  ];
  for (const f of files) {
    const list = [...(byFile.get(f) ?? [])].sort(
      (a, b) =>
        compare(a.kernel, b.kernel) ||
        compare(a.how === "tag" ? "0" : "1", b.how === "tag" ? "0" : "1") ||
        compare(a.model, b.model) ||
        compare(a.file, b.file) ||
        a.line - b.line,
    );
    parts.push(`## ${f === NONE ? f : `\`${f}\``}\n`);
    parts.push("| kernel symbol | model symbol | how | where |\n| --- | --- | --- | --- |");
    for (const r of list) {
      const how = r.how === "tag" ? "model" : "cites";
      parts.push(`| \`${r.kernel}\` | \`${r.model}\` | ${how} | ${r.file} |`);
    }
    parts.push("");
  }
  return parts.join("\n");
}

/**
 * Builds the index of a tree, formatted as `prettier --write` would leave it
 * in this repository (its prettier configuration, whatever `root` is).
 *
 * @param root - the tree whose packages/*\/src is indexed.
 * @returns the file's content.
 */
export async function buildIndex(root: string = REPO_ROOT): Promise<string> {
  const rows = sourceFiles(root).flatMap((f) =>
    entriesOfSource(f, readFileSync(join(root, f), "utf8")),
  );
  const target = join(REPO_ROOT, INDEX_PATH);
  const options = (await prettier.resolveConfig(target)) ?? {};
  return prettier.format(renderIndex(rows), { ...options, filepath: target });
}

/**
 * The first line where two texts differ, for the `--check` message.
 *
 * @returns a 1-based line number.
 */
function firstDifference(a: string, b: string): number {
  const la = a.split("\n");
  const lb = b.split("\n");
  let i = 0;
  while (i < la.length && i < lb.length && la[i] === lb[i]) i++;
  return i + 1;
}

/**
 * The command: writes the index, or with `--check` compares it.
 *
 * @param argv - the arguments after the script's name.
 * @returns the exit status.
 */
export async function main(argv: readonly string[]): Promise<number> {
  const option = (name: string): string | undefined => {
    const at = argv.indexOf(name);
    return at >= 0 ? argv[at + 1] : undefined;
  };
  const check = argv.includes("--check");
  const root = resolve(option("--root") ?? REPO_ROOT);
  const path = resolve(option("--file") ?? join(root, INDEX_PATH));
  const shown = relative(process.cwd(), path) || path;
  const fresh = await buildIndex(root);
  if (check) {
    const current = existsSync(path) ? readFileSync(path, "utf8") : null;
    if (current === fresh) {
      console.log(`${shown} is current`);
      return 0;
    }
    console.error(
      current === null
        ? `${shown} is missing: run \`pnpm kernel-index\` and commit it`
        : `${shown} is not current (first difference at line ${firstDifference(current, fresh)}): ` +
            "run `pnpm kernel-index` and commit it",
    );
    return 1;
  }
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, fresh);
  console.log(`wrote ${shown}`);
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2));
}
