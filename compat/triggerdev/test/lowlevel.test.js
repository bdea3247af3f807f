// The trigger.dev core ApiClient (@trigger.dev/core/v3), unchanged, against
// streambatch's two-phase batch API.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { ApiClient, ApiError, BatchNotSealedError } from "@trigger.dev/core/v3";
import { requireEnv, getJSON, abortBatch, countFetches, assertJWT, makeItems } from "../lib/streambatch.js";

const { STREAMBATCH_URL: baseUrl, STREAMBATCH_API_KEY: apiKey } = requireEnv(
  "STREAMBATCH_URL",
  "STREAMBATCH_API_KEY",
);
const client = new ApiClient(baseUrl, apiKey);

test("createBatch + streamBatchItems: 1,000 items seal", async () => {
  const batch = await client.createBatch({ runCount: 1000 });
  assert.match(batch.id, /^batch_/);
  assert.equal(batch.runCount, 1000);
  assert.equal(batch.isCached, false);
  const claims = assertJWT(batch.publicAccessToken);
  assert.deepEqual(claims.scopes, [`read:batch:${batch.id}`]);

  const result = await client.streamBatchItems(batch.id, makeItems(1000, "compat-task"));
  assert.equal(result.id, batch.id);
  assert.equal(result.sealed, true);
  assert.equal(result.itemsAccepted, 1000);
  assert.equal(result.itemsDeduplicated, 0);

  const status = await getJSON(baseUrl, apiKey, `/api/v3/batches/${batch.id}`);
  assert.equal(status.status, "PROCESSING");
  assert.equal(status.sealed, true);
  assert.equal(status.runCount, 1000);
  assert.equal(status.enqueuedCount, 1000);
  assert.equal(status.failedCount, 0);
});

test("createBatch with an idempotency key answers the same batch, cached", async () => {
  const idempotencyKey = `compat-${randomUUID()}`;
  const first = await client.createBatch({ runCount: 2, idempotencyKey });
  assert.equal(first.isCached, false);
  assert.equal(first.idempotencyKey, idempotencyKey);
  const second = await client.createBatch({ runCount: 2, idempotencyKey });
  assert.equal(second.isCached, true);
  assert.equal(second.id, first.id);
  assert.equal(second.runCount, 2);
  assertJWT(second.publicAccessToken);
});

test("a stream with missing items rejects with BatchNotSealedError", async () => {
  const batch = await client.createBatch({ runCount: 10 });
  const items = makeItems(10, "compat-task").slice(0, 5);
  const counter = countFetches(/\/api\/v3\/batches\/[^/]+\/items$/);
  let err;
  try {
    await client.streamBatchItems(batch.id, items, {
      retry: { maxAttempts: 2, minTimeoutInMs: 10, maxTimeoutInMs: 20, factor: 1, randomize: false },
    });
  } catch (e) {
    err = e;
  } finally {
    counter.restore();
  }
  assert.ok(err instanceof BatchNotSealedError, `expected BatchNotSealedError, got ${err}`);
  assert.equal(err.batchId, batch.id);
  assert.equal(err.enqueuedCount, 5);
  assert.equal(err.expectedCount, 10);
  // The second attempt re-sent the same five items: all deduplicated.
  assert.equal(err.itemsAccepted, 0);
  assert.equal(err.itemsDeduplicated, 5);
  assert.equal(counter.count, 2, "one request per attempt");

  const status = await getJSON(baseUrl, apiKey, `/api/v3/batches/${batch.id}`);
  assert.equal(status.status, "PENDING");
  assert.equal(status.sealed, false);
  // The status's enqueuedCount counts runs already written by the workflow
  // (asynchronous); the accepted indexes are known at once:
  const missing = await getJSON(baseUrl, apiKey, `/api/v3/batches/${batch.id}/missing`);
  assert.equal(missing.acceptedCount, 5);
  assert.deepEqual(missing.missing, [[5, 10]]);
  await abortBatch(baseUrl, apiKey, batch.id, "compat test: left unsealed on purpose");
});

test("an out-of-range index fails fast with a 422 ApiError, no retry", async () => {
  const batch = await client.createBatch({ runCount: 2 });
  const items = [{ index: 5, task: "compat-task", payload: "{}", options: { payloadType: "application/json" } }];
  const counter = countFetches(/\/api\/v3\/batches\/[^/]+\/items$/);
  let err;
  try {
    // Default retry options: 5 attempts, the first retry after about a second.
    await client.streamBatchItems(batch.id, items);
  } catch (e) {
    err = e;
  } finally {
    counter.restore();
  }
  assert.ok(err instanceof ApiError, `expected ApiError, got ${err}`);
  assert.equal(err.status, 422);
  assert.match(err.message, /index/i);
  assert.equal(counter.count, 1, "exactly one request: a 422 is not retried");
  await abortBatch(baseUrl, apiKey, batch.id, "compat test: invalid item");
});
