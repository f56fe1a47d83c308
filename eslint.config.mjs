// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";

const driverPackages = [
  "@dmabuf-ref/exporters",
  "@dmabuf-ref/importers",
  "@dmabuf-ref/contracts",
  "@dmabuf-ref/cli",
];

export default tseslint.config(
  {
    ignores: [
      "**/node_modules/**",
      "**/dist/**",
      "api-docs/**",
      "reports/**",
      "packages/cli/test/.readme-blocks/**",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: {
          allowDefaultProject: ["*.config.mjs", ".ci/*.mjs"],
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
  {
    // core is the vocabulary: like dma-buf core, it never knows a driver.
    files: ["packages/core/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { group: driverPackages, message: "core imports no driver, suite or CLI (DESIGN §2)." },
            {
              group: ["../../*/src/*", "**/packages/*"],
              message: "Import packages by name, never by path.",
            },
          ],
        },
      ],
    },
  },
  {
    // Exporters and importers meet only through core, as drivers meet only through dma-buf core.
    files: ["packages/exporters/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["@dmabuf-ref/importers", "@dmabuf-ref/cli"],
              message: "Exporters never import importers (DESIGN §2).",
            },
          ],
        },
      ],
    },
  },
  {
    files: ["packages/importers/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["@dmabuf-ref/exporters", "@dmabuf-ref/cli"],
              message: "Importers never import exporters (DESIGN §2).",
            },
          ],
        },
      ],
    },
  },
  {
    files: ["**/*.mjs"],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: { process: "readonly", console: "readonly" } },
  },
);
