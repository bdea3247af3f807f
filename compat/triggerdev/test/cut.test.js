// A connection cut in the middle of the items stream: the SDK retries the
// whole stream (tee-buffered) and the server's dedup by index keeps exactly
// one run per item. STREAMBATCH_PROXY_URL is a proxy (e2e/triggerdev_test.go)
// that cuts the first POST …/items after about half of its body.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ApiClient } from "@trigger.dev/core/v3";
import { requireEnv, getJSON, countFetches, makeItems } from "../lib/streambatch.js";

const {
  STREAMBATCH_URL: baseUrl,
  STREAMBATCH_API_KEY: apiKey,
  STREAMBATCH_PROXY_URL: proxyUrl,
} = requireEnv("STREAMBATCH_URL", "STREAMBATCH_API_KEY", "STREAMBATCH_PROXY_URL");

test("a stream cut mid-body is retried and seals with 2,000 items", async () => {
  const client = new ApiClient(proxyUrl, apiKey);
  const batch = await client.createBatch({ runCount: 2000 });
  // The Go test reads this line to check the runs in PostgreSQL.
  console.log(`CUT_BATCH_ID=${batch.id}`);

  const counter = countFetches(/\/api\/v3\/batches\/[^/]+\/items$/);
  let result;
  try {
    const items = makeItems(2000, "compat-cut", { pad: "p".repeat(64) });
    result = await client.streamBatchItems(batch.id, items, {
      retry: { maxAttempts: 5, minTimeoutInMs: 50, maxTimeoutInMs: 500, factor: 2, randomize: false },
    });
  } finally {
    counter.restore();
  }
  const outcomes = counter.outcomes.map((o) =>
    o.error ? `error: ${o.error.message} (${o.error.cause?.code ?? o.error.cause?.message})` : o.status,
  );
  console.log(`items requests: ${JSON.stringify(outcomes)}; result ${JSON.stringify(result)}`);
  assert.equal(result.sealed, true);
  // The first request died with a network error (no HTTP status), the
  // retry went through.
  assert.ok(counter.outcomes.length >= 2, `the cut request was retried: ${outcomes}`);
  assert.ok(counter.outcomes[0].error instanceof Error, `first request: ${outcomes[0]}`);
  assert.equal(counter.outcomes.at(-1).status, 200);
  // Every item is counted once over the successful attempt: new or already there.
  assert.equal(result.itemsAccepted + result.itemsDeduplicated, 2000);

  const status = await getJSON(baseUrl, apiKey, `/api/v3/batches/${batch.id}`);
  assert.equal(status.sealed, true);
  assert.equal(status.enqueuedCount, 2000);
});
