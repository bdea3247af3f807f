// Item idempotency keys with the unchanged SDK: two tasks.batchTrigger
// calls whose items carry the same idempotencyKey name one run (executed
// once, by the Go task worker of the exec environment), which
// batch.retrieve, runs.list({ batch }), GET /api/v1/runs with
// filter[idempotencyKey] and the batch results show; idempotencyKeys.reset and an expired
// idempotencyKeyTTL let the next item make a new run.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { ApiClient, ApiError } from "@trigger.dev/core/v3";
import { batch, configure, idempotencyKeys, runs, tasks } from "@trigger.dev/sdk";
import { getJSON, requireEnv } from "../lib/streambatch.js";

const { STREAMBATCH_URL: baseUrl, STREAMBATCH_EXEC_API_KEY: apiKey } = requireEnv(
  "STREAMBATCH_URL",
  "STREAMBATCH_EXEC_API_KEY",
);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function untilDone(batchId) {
  for (let i = 0; i < 240; i++) {
    const b = await batch.retrieve(batchId);
    if (b.status === "COMPLETED" || b.status === "PARTIAL_FAILED" || b.status === "ABORTED") return b;
    await sleep(250);
  }
  throw new Error(`batch ${batchId} did not complete`);
}

// The runs GET /api/v1/runs?filter[idempotencyKey]= lists (the route
// trigger.dev's REST API filters on; the SDK's runs.list does not send it).
async function keyRuns(key) {
  const page = await getJSON(baseUrl, apiKey, `/api/v1/runs?filter[idempotencyKey]=${encodeURIComponent(key)}`);
  return page.data.map((r) => r.id);
}

async function ids(iterable) {
  const out = [];
  for await (const r of iterable) out.push(r.id);
  return out;
}

test("two batchTrigger calls with one item idempotencyKey name one run; reset makes a new one", async () => {
  configure({ baseURL: baseUrl, accessToken: apiKey });
  const key = await idempotencyKeys.create(`item-${randomUUID()}`, { scope: "global" });

  const h1 = await tasks.batchTrigger("echo", [
    { payload: { n: 1 }, options: { idempotencyKey: key } },
    { payload: { n: 2 } },
  ]);
  const h2 = await tasks.batchTrigger("echo", [{ payload: { n: 3 }, options: { idempotencyKey: key } }]);
  assert.notEqual(h2.batchId, h1.batchId, "item keys are not batch keys: a second batch");

  const b1 = await untilDone(h1.batchId);
  const b2 = await untilDone(h2.batchId);
  assert.equal(b2.status, "COMPLETED");
  assert.deepEqual(b2.runs, [b1.runs[0]], "the second batch names the first batch's run");

  // The run executed once, with the first item's payload.
  const run = await runs.retrieve(b2.runs[0]);
  assert.equal(run.batchId, h1.batchId);
  assert.deepEqual(run.payload, { n: 1 });
  assert.deepEqual(run.output, { doubled: 2 });
  assert.equal(run.attemptCount, 1);

  assert.deepEqual(await ids(runs.list({ batch: h2.batchId })), [b1.runs[0]]);
  assert.deepEqual(await keyRuns(key), [b1.runs[0]]);
  const results = await new ApiClient(baseUrl, apiKey).getBatchResults(h2.batchId);
  assert.deepEqual(results.items.map((it) => it.id), [b1.runs[0]]);
  assert.deepEqual(JSON.parse(results.items[0].output), { doubled: 2 });

  // idempotencyKeys.reset: the next item makes a new run.
  await idempotencyKeys.reset("echo", key);
  const h3 = await tasks.batchTrigger("echo", [{ payload: { n: 4 }, options: { idempotencyKey: key } }]);
  const b3 = await untilDone(h3.batchId);
  assert.notEqual(b3.runs[0], b1.runs[0]);
  assert.deepEqual((await runs.retrieve(b3.runs[0])).output, { doubled: 8 });
  assert.deepEqual(await keyRuns(key), [b3.runs[0]]);

  // A key no run of the task holds is a 404.
  await assert.rejects(idempotencyKeys.reset("no-such-task", key), (e) => e instanceof ApiError && e.status === 404);
});

test("an expired idempotencyKeyTTL lets the next item make a new run", async () => {
  configure({ baseURL: baseUrl, accessToken: apiKey });
  const key = await idempotencyKeys.create(`ttl-${randomUUID()}`, { scope: "global" });
  const h1 = await tasks.batchTrigger("echo", [{ payload: { n: 5 }, options: { idempotencyKey: key, idempotencyKeyTTL: "0s" } }]);
  const h2 = await tasks.batchTrigger("echo", [{ payload: { n: 6 }, options: { idempotencyKey: key, idempotencyKeyTTL: "1h" } }]);
  const h3 = await tasks.batchTrigger("echo", [{ payload: { n: 7 }, options: { idempotencyKey: key } }]);
  const [b1, b2, b3] = [await batch.retrieve(h1.batchId), await batch.retrieve(h2.batchId), await batch.retrieve(h3.batchId)];
  assert.notEqual(b2.runs[0], b1.runs[0], "the key had expired: a new run");
  assert.equal(b3.runs[0], b2.runs[0], "the key lives an hour: the same run");
});
