// A browser's batch token (write:batch:<id>, what createBatch answers to a
// client that says x-trigger-client: browser) with the trigger.dev core
// ApiClient, unchanged: it uploads a large payload through PUT
// /api/v2/packets with the token it has, streams the storagePath it was
// given, and cannot point an item at another upload of the environment.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ApiClient, ApiError } from "@trigger.dev/core/v3";
import { requireEnv, assertJWT } from "../lib/streambatch.js";

const { STREAMBATCH_URL: baseUrl, STREAMBATCH_API_KEY: apiKey } = requireEnv(
  "STREAMBATCH_URL",
  "STREAMBATCH_API_KEY",
);
// The server side creates the batch for a browser, which streams its items.
const server = new ApiClient(baseUrl, apiKey, undefined, { additionalHeaders: { "x-trigger-client": "browser" } });

test("a browser's batch token uploads for its batch, streams the reference, and no other", async () => {
  const batch = await server.createBatch({ runCount: 1 });
  const claims = assertJWT(batch.publicAccessToken);
  assert.ok(claims.scopes.includes(`write:batch:${batch.id}`), `scopes ${claims.scopes}`);
  const browser = new ApiClient(baseUrl, batch.publicAccessToken);

  // An upload of the environment made with the API key is off limits.
  const other = await server.createUploadPayloadUrl(`compat/other-${batch.id}.json`);
  let err;
  try {
    await browser.streamBatchItems(
      batch.id,
      [{ index: 0, task: "compat-task", payload: other.storagePath, options: { payloadType: "application/store" } }],
      { retry: { maxAttempts: 1 } },
    );
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ApiError, `expected an ApiError, got ${err}`);
  assert.equal(err.status, 422);
  assert.match(String(err.message), /index 0.*not uploaded for this batch/);

  // Its own upload: bound to the batch, and accepted.
  const up = await browser.createUploadPayloadUrl("payload.json");
  assert.equal(up.storagePath, `uploads/${batch.id}/payload.json`);
  const put = await fetch(up.presignedUrl, {
    method: "PUT",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ big: "x".repeat(200 << 10) }),
  });
  assert.equal(put.status, 200);
  const res = await browser.streamBatchItems(batch.id, [
    { index: 0, task: "compat-task", payload: up.storagePath, options: { payloadType: "application/store" } },
  ]);
  assert.equal(res.sealed, true);
  assert.equal(res.itemsAccepted, 1);
});
