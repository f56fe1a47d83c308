/**
 * `@dmabuf-ref/cli`: the `dmabuf-ref` command, also usable in-process.
 *
 * @packageDocumentation
 */
export { createProgram, runCli, runCliSync } from "./program.js";
export type { CliIo } from "./program.js";
export { UsageError } from "./io/usage-error.js";
export { renderExamples, EXAMPLES_DIR } from "./commands/examples.js";
export type { RenderedExample } from "./commands/examples.js";
export { RFC_DIR, TRACES_DIR, rfcRenderings } from "./rfc/renderings.js";
export type { RfcRendering } from "./rfc/renderings.js";
export {
  SCENARIO_GUIDE,
  currentDocument,
  outputDocuments,
  renderOutputs,
} from "./rfc/scenario-guide.js";
export type { CliRunner, CollectedRun } from "./rfc/scenario-guide.js";
export { runCollected, runCollectedAsync } from "./program.js";
export type { PluginLoader } from "./program.js";
export {
  definePlugin,
  exporterPluginSchema,
  importerPluginSchema,
  pluginHardwareSchema,
  pluginSchema,
} from "./io/plugin.js";
export type {
  DmabufRefPlugin,
  ExporterPlugin,
  ImporterPlugin,
  PluginHardware,
  PluginHardwareSpec,
  PluginSpec,
} from "./io/plugin.js";
export { BUILT_IN_DRIVER_NAMES, NO_PLUGINS, loadPlugins } from "./io/load-plugin.js";
export type {
  LoadedExporter,
  LoadedHardware,
  LoadedImporter,
  PluginScenario,
  PluginSet,
} from "./io/load-plugin.js";
