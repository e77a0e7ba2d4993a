// Every browser suite against a running shopkeep, in Debian's Chromium.
//
//   node tests/browser/run.mjs http://127.0.0.1:8080
//
// Runs each module in suites/ in name order. Environment: SHOPKEEP_ADMIN_KEY
// (an admin API key), SHOPKEEP_ADMIN_USER and SHOPKEEP_ADMIN_PASSWORD (the
// dashboard's sign-in), SHOPIFY_EXPORTS (a folder of Shopify product
// exports), SCREENSHOT_DIR (default target/screenshots), CHROMIUM (default
// /usr/bin/chromium). Exits 1 when any check fails, printing why.

import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { browser, here, results, shots } from './harness.mjs';

const only = process.env.SUITES?.split(',').filter(Boolean);
const suites = readdirSync(join(here, 'suites'))
  .filter((name) => name.endsWith('.mjs'))
  .filter((name) => !only || only.some((wanted) => name.startsWith(wanted)))
  .sort();
for (const suite of suites) {
  console.log(`# ${suite}`);
  await import(pathToFileURL(join(here, 'suites', suite)).href);
}

await browser.close();
const failed = results.filter((r) => !r.ok);
console.log(`${results.length - failed.length} passed, ${failed.length} failed; screenshots in ${shots}`);
process.exit(failed.length ? 1 : 0);
