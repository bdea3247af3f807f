// The React hooks of @trigger.dev/react-hooks (the SDK's version, unchanged)
// in headless Chromium: page.jsx, bundled with esbuild and served from an
// origin of its own, follows a batch of "gated" runs (the Go test's task
// worker executes them until their metadata says release) with
// useRealtimeBatch and one run with useRealtimeRun, both with the batch's
// public access token. The page shows each run EXECUTING, then, once
// released, COMPLETED with its output. The time from a run's finishedAt
// to the page rendering it COMPLETED is printed (REALTIME_LATENCY_MS), not
// asserted. Needs Chromium: STREAMBATCH_CHROMIUM, or chromium on PATH.
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { chromium } from "playwright-core";
import { ApiClient } from "@trigger.dev/core/v3";
import { batch, configure, tasks } from "@trigger.dev/sdk";
import { requireEnv } from "../lib/streambatch.js";

const {
  STREAMBATCH_URL: baseUrl,
  STREAMBATCH_EXEC_API_KEY: apiKey,
  STREAMBATCH_CHROMIUM: chromiumPath,
} = requireEnv("STREAMBATCH_URL", "STREAMBATCH_EXEC_API_KEY", "STREAMBATCH_CHROMIUM");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Bundles page.jsx into dir/page.js for the browser. */
async function bundle(dir) {
  await build({
    entryPoints: [fileURLToPath(new URL("./page.jsx", import.meta.url))],
    bundle: true,
    outfile: join(dir, "page.js"),
    format: "esm",
    platform: "browser",
    jsx: "automatic",
    // A transport of the SDK's streams that only Node loads, dynamically.
    external: ["node:*"],
    define: { "process.env.NODE_ENV": '"production"' },
    logLevel: "warning",
  });
}

/** Serves the page and its bundle on a port of 127.0.0.1: another origin than the API's. */
async function servePage(dir) {
  const js = await readFile(join(dir, "page.js"));
  const html = '<!doctype html><html><head><meta charset="utf-8"><title>realtime</title></head>' +
    '<body><div id="root"></div><script type="module" src="/page.js"></script></body></html>';
  const server = http.createServer((req, res) => {
    const isJS = req.url.startsWith("/page.js");
    res.writeHead(200, { "Content-Type": isJS ? "text/javascript" : "text/html" });
    res.end(isJS ? js : html);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server;
}

test("useRealtimeBatch and useRealtimeRun render every run's status through COMPLETED", { timeout: 240_000 }, async () => {
  configure({ baseURL: baseUrl, accessToken: apiKey });
  const handle = await tasks.batchTrigger("gated", [0, 1, 2].map((n) => ({ payload: { n } })));
  let ids;
  for (;;) {
    ids = (await batch.retrieve(handle.batchId)).runs;
    if (ids.length === 3) break;
    await sleep(100);
  }

  const dir = await mkdtemp(join(tmpdir(), "streambatch-react-"));
  let server, browser;
  try {
    await bundle(dir);
    server = await servePage(dir);
    browser = await chromium.launch({ executablePath: chromiumPath, args: ["--no-sandbox"] });
    const page = await browser.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    const q = new URLSearchParams({ api: baseUrl, token: handle.publicAccessToken, batch: handle.batchId, run: ids[0] });
    await page.goto(`http://127.0.0.1:${server.address().port}/?${q}`);

    // Every run renders EXECUTING (the gated runs wait for their release).
    const rendered = (status) =>
      page.waitForFunction(
        ([n, st]) => {
          const rows = [...document.querySelectorAll(".batch-run")];
          const run = document.getElementById("run");
          return rows.length === n && rows.every((r) => r.dataset.status === st) && run?.dataset.status === st;
        },
        [ids.length, status],
        { polling: 50, timeout: 0 },
      );
    await rendered("EXECUTING");
    const client = new ApiClient(baseUrl, apiKey);
    for (const id of ids) await client.updateRunMetadata(id, { metadata: { release: true } });
    await rendered("COMPLETED");

    const shown = await page.evaluate(() => ({
      batch: [...document.querySelectorAll(".batch-run")].map((r) => [r.dataset.id, r.dataset.status, r.dataset.output]),
      run: [document.getElementById("run").dataset.status, document.getElementById("run").dataset.output],
      errors: [document.getElementById("batch").dataset.error, document.getElementById("run").dataset.error],
      events: window.__events,
    }));
    assert.deepEqual(errors, []);
    assert.deepEqual(shown.errors, ["", ""]);
    assert.deepEqual(
      shown.batch.sort(),
      ids.map((id, i) => [id, "COMPLETED", JSON.stringify({ released: i })]).sort(),
    );
    assert.deepEqual(shown.run, ["COMPLETED", JSON.stringify({ released: 0 })]);
    for (const hook of ["useRealtimeBatch", "useRealtimeRun"]) {
      const done = shown.events.filter((e) => e.hook === hook && e.status === "COMPLETED");
      const latencies = done.map((e) => e.at - e.finishedAt);
      console.log(`REALTIME_LATENCY_MS ${hook} completed_max=${Math.max(...latencies)} runs=${done.length}`);
    }
  } finally {
    await browser?.close();
    server?.close();
    await rm(dir, { recursive: true, force: true });
  }
});
