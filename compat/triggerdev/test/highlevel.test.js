// The high-level SDK (@trigger.dev/sdk): configure() + tasks.batchTrigger(),
// including its own offload of large payloads through PUT /api/v2/packets.
import { test } from "node:test";
import assert from "node:assert/strict";
import { configure, tasks } from "@trigger.dev/sdk";
import { requireEnv, getJSON, listRuns, assertJWT } from "../lib/streambatch.js";

const { STREAMBATCH_URL: baseUrl, STREAMBATCH_API_KEY: apiKey } = requireEnv(
  "STREAMBATCH_URL",
  "STREAMBATCH_API_KEY",
);

test("configure + tasks.batchTrigger: 20 items, 3 offloaded by the SDK", async () => {
  configure({ baseURL: baseUrl, accessToken: apiKey });

  const large = new Set([3, 10, 17]);
  const items = Array.from({ length: 20 }, (_, i) => ({
    payload: large.has(i) ? { i, blob: "x".repeat(200 * 1024) } : { i, small: true },
  }));
  const handle = await tasks.batchTrigger("compat-high", items);
  assert.match(handle.batchId, /^batch_/);
  assert.equal(handle.runCount, 20);
  assertJWT(handle.publicAccessToken);

  const status = await getJSON(baseUrl, apiKey, `/api/v3/batches/${handle.batchId}`);
  assert.equal(status.sealed, true);
  assert.equal(status.enqueuedCount, 20);

  const runs = await listRuns(baseUrl, apiKey, handle.batchId);
  assert.equal(runs.length, 20);
  const stored = runs.filter((r) => r.payloadType === "application/store");
  assert.deepEqual(
    stored.map((r) => r.index),
    [...large],
    "exactly the large payloads are application/store",
  );
  for (const r of runs) {
    assert.equal(r.task, "compat-high");
    assert.equal(r.status, "QUEUED");
    if (large.has(r.index)) {
      // The object key inside the bucket: packets/<env>/trigger/<the SDK's
      // filename>/payload.json (4.6 names it packet_…, 4.5 <task>/<time>-<id>).
      assert.match(r.payload, /^packets\/[^/]+\/trigger\/(?:[^/]+\/)+payload\.json$/);
    } else {
      // stringifyIO serialises objects with superjson; small ones stay inline.
      assert.equal(r.payloadType, "application/super+json");
      assert.deepEqual(JSON.parse(r.payload).json, { i: r.index, small: true });
    }
  }
});
