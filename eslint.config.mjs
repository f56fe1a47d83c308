// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import { layeringConfigs } from "./scripts/eslint-layering.mjs";

export default tseslint.config(
  {
    ignores: [
      "**/node_modules/**",
      "**/dist/**",
      "api-docs/**",
      "reports/**",
      "packages/cli/test/.readme-blocks/**",
      "packages/cli/test/.package-readme-blocks/**",
      "packages/cli/test/doc-examples.generated/**",
      "packages/cli/test/doc-examples.scratch-*/**",
      "packages/cli/test/.docs-code-scratch/**",
      "packages/cli/test/.scratch-*/**",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: {
          allowDefaultProject: ["*.config.mjs", ".ci/*.mjs", "scripts/*.mjs"],
        },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      "@typescript-eslint/switch-exhaustiveness-check": "error",
      "@typescript-eslint/restrict-template-expressions": [
        "error",
        { allowNumber: true, allowBoolean: true, allowNullish: false },
      ],
      "@typescript-eslint/no-explicit-any": "error",
    },
  },
  // Layering (DESIGN §2): which package and which driver folder may import
  // what. The rules live in scripts/eslint-layering.mjs, which
  // packages/cli/test/layering.test.ts also lints its fixtures with.
  ...layeringConfigs,
  {
    files: ["**/*.mjs"],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: { process: "readonly", console: "readonly" } },
  },
);
