// `pnpm docs:screenshot`: pictures of the API site as a reader first sees
// it (issue 14): the index page and the getting-started guide, taken by a
// headless Chromium (Debian: `apt-get install chromium`), so a reviewer can
// check that the guides are reachable from the navigation without building
// and serving the site. Builds the site first when api-docs/ is missing.
// Writes reports/screenshots/*.png. Not part of the test command: a fresh
// machine has no browser, and the script says so and exits 0.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const root = resolve(import.meta.dirname, "..");
const site = join(root, "api-docs");
const out = join(root, "reports", "screenshots");

/** The first Chromium binary on PATH, if any. */
function findChromium() {
  for (const name of ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]) {
    const r = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" });
    if (r.status === 0 && r.stdout.trim() !== "") return r.stdout.trim();
  }
  return undefined;
}

const chromium = findChromium();
if (chromium === undefined) {
  console.log("docs:screenshot: skipped: no Chromium on PATH (Debian: apt-get install chromium)");
  process.exit(0);
}

if (!existsSync(join(site, "index.html"))) {
  console.log("docs:screenshot: building the site (pnpm api-docs)");
  const built = spawnSync("pnpm", ["--silent", "api-docs"], { cwd: root, stdio: "inherit" });
  if (built.status !== 0) process.exit(built.status ?? 1);
}

// The pages: the index (the navigation lists the guides) and the first
// guide. typedoc names a project document's page after its title.
const pages = [
  { name: "index", file: join(site, "index.html") },
  {
    name: "guide-getting-started",
    file: join(site, "documents", "Getting_started.html"),
  },
];

mkdirSync(out, { recursive: true });
let failed = 0;
for (const page of pages) {
  if (!existsSync(page.file)) {
    console.log(`docs:screenshot: ${page.file} does not exist: is the guide in typedoc.json?`);
    failed += 1;
    continue;
  }
  // The navigation must name every guide, or the picture shows a site
  // whose guides a reader cannot find.
  const html = readFileSync(page.file, "utf8");
  if (page.name === "index" && !/Getting started/i.test(html))
    console.log("docs:screenshot: warning: the index page does not mention the guides");
  const png = join(out, `${page.name}.png`);
  const r = spawnSync(
    chromium,
    [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--hide-scrollbars",
      "--window-size=1280,900",
      `--screenshot=${png}`,
      pathToFileURL(page.file).href,
    ],
    { encoding: "utf8", timeout: 60_000 },
  );
  if (r.status !== 0 || !existsSync(png) || statSync(png).size === 0) {
    console.log(
      `docs:screenshot: ${page.name}: Chromium failed: ${r.stderr.trim().split("\n").pop() ?? ""}`,
    );
    failed += 1;
    continue;
  }
  console.log(`docs:screenshot: wrote ${png.slice(root.length + 1)}`);
}
process.exit(failed === 0 ? 0 : 1);
