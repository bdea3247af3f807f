// Shared helpers of the compatibility tests: the environment they need and
// plain-fetch calls to streambatch's own read endpoints.
import assert from "node:assert/strict";

/**
 * Reads required environment variables. A missing one throws at import time,
 * so `node --test` reports the file as failed: these tests never skip.
 */
export function requireEnv(...names) {
  const missing = names.filter((n) => !process.env[n]);
  if (missing.length > 0) {
    throw new Error(
      `compat/triggerdev: missing environment variable(s) ${missing.join(", ")}. ` +
        "Run: STREAMBATCH_URL=http://127.0.0.1:8080 STREAMBATCH_API_KEY=sb_... node --test " +
        "(the mid-stream cut test also needs STREAMBATCH_PROXY_URL; the Go test e2e/triggerdev_test.go sets all of them)",
    );
  }
  return Object.fromEntries(names.map((n) => [n, process.env[n].replace(/\/$/, "")]));
}

/** GET a streambatch endpoint with the API key; asserts 200 and returns the JSON body. */
export async function getJSON(baseUrl, apiKey, path) {
  const res = await fetch(baseUrl + path, { headers: { Authorization: `Bearer ${apiKey}` } });
  const text = await res.text();
  assert.equal(res.status, 200, `GET ${path}: ${res.status} ${text}`);
  return JSON.parse(text);
}

/** Aborts a pending batch (cleanup: its workflow would otherwise wait for the seal timeout). */
export async function abortBatch(baseUrl, apiKey, batchId, reason) {
  const res = await fetch(`${baseUrl}/api/v3/batches/${batchId}/abort`, {
    method: "POST",
    headers: { Authorization: `Bearer ${apiKey}`, "Content-Type": "application/json" },
    body: JSON.stringify({ reason }),
  });
  const text = await res.text();
  assert.ok(res.status === 200 || res.status === 202, `abort ${batchId}: ${res.status} ${text}`);
}

/** Every run of a batch, following nextCursor. */
export async function listRuns(baseUrl, apiKey, batchId) {
  const runs = [];
  let cursor;
  for (;;) {
    const q = new URLSearchParams({ limit: "100" });
    if (cursor !== undefined) q.set("cursor", cursor);
    const page = await getJSON(baseUrl, apiKey, `/api/v3/batches/${batchId}/runs?${q}`);
    runs.push(...page.data);
    if (page.nextCursor == null) return runs;
    cursor = page.nextCursor;
  }
}

/**
 * Replaces globalThis.fetch (which the SDK's streamBatchItems calls directly)
 * with a wrapper that counts requests whose URL matches `pattern` and records
 * how each ended (`{status}` or `{error}`), until restore() is called. Tests
 * in one file run one after another, so this is safe there.
 */
export function countFetches(pattern) {
  const original = globalThis.fetch;
  const counter = {
    count: 0,
    outcomes: [],
    restore() {
      globalThis.fetch = original;
    },
  };
  globalThis.fetch = async (input, init) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    if (!pattern.test(url)) return original(input, init);
    counter.count++;
    const outcome = {};
    counter.outcomes.push(outcome);
    try {
      const res = await original(input, init);
      outcome.status = res.status;
      return res;
    } catch (error) {
      outcome.error = error;
      throw error;
    }
  };
  return counter;
}

/** Asserts that s looks like a compact JWS (three base64url parts) and returns its claims. */
export function assertJWT(s) {
  assert.equal(typeof s, "string", "publicAccessToken is a string");
  const parts = s.split(".");
  assert.equal(parts.length, 3, `publicAccessToken ${s} has 3 dot-separated parts`);
  for (const p of parts) assert.match(p, /^[A-Za-z0-9_-]+$/);
  return JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
}

/** n low-level NDJSON items for task `task`. */
export function makeItems(n, task, extra = {}) {
  return Array.from({ length: n }, (_, index) => ({
    index,
    task,
    payload: JSON.stringify({ index, hello: "world", ...extra }),
    options: { payloadType: "application/json" },
  }));
}
