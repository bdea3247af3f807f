// Browser triggering with the tokens the SDK signs itself, unchanged:
// auth.createBatchTriggerPublicToken / createTriggerPublicToken create
// batches of the tasks they name (and stream their items), a one-time token
// creates one batch, auth.createPublicToken's read:tasks scope reads the
// runs of its task only, and tasks.batchTrigger inside
// auth.withBatchTriggerPublicToken works where the SDK names the batch's
// tasks in its create request.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { ApiClient, ApiError } from "@trigger.dev/core/v3";
import { auth, configure, tasks } from "@trigger.dev/sdk";
import { requireEnv, assertJWT, makeItems } from "../lib/streambatch.js";

const { STREAMBATCH_URL: baseUrl, STREAMBATCH_API_KEY: apiKey } = requireEnv(
  "STREAMBATCH_URL",
  "STREAMBATCH_API_KEY",
);
configure({ baseURL: baseUrl, accessToken: apiKey });

// Tokens of the same claims signed in the same second are the same token:
// each test names tasks of its own.
const taskName = (what) => `browser-${what}-${randomUUID().slice(0, 8)}`;

/** The ApiError fn throws; asserts one is thrown, with status. */
async function refused(fn, status) {
  let err;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ApiError, `expected an ApiError, got ${err}`);
  assert.equal(err.status, status, `status ${err.status}: ${err.message}`);
  return err;
}

const noRetry = { retry: { maxAttempts: 1 } };

test("a batch-trigger token creates a batch of its task and streams its items, once", async () => {
  const task = taskName("once");
  const token = await auth.createBatchTriggerPublicToken(task);
  assert.equal(assertJWT(token).otu, true);
  const browser = new ApiClient(baseUrl, token);

  const created = await browser.createBatch({ runCount: 2, taskIdentifiers: [task] });
  assert.match(created.id, /^batch_/);
  assert.ok(assertJWT(created.publicAccessToken).scopes.includes(`write:batch:${created.id}`));
  const res = await browser.streamBatchItems(created.id, makeItems(2, task));
  assert.equal(res.sealed, true);
  assert.equal(res.itemsAccepted, 2);

  const err = await refused(() => browser.createBatch({ runCount: 1, taskIdentifiers: [task] }, undefined, noRetry), 401);
  assert.match(String(err.message), /already used/);
});

test("a multiple-use token creates batches of its task only, whose items are of its task", async () => {
  const task = taskName("multi");
  const token = await auth.createBatchTriggerPublicToken(task, { multipleUse: true, expirationTime: "10m" });
  const browser = new ApiClient(baseUrl, token);
  for (let i = 0; i < 2; i++) {
    const b = await browser.createBatch({ runCount: 1, taskIdentifiers: [task] });
    assert.equal((await browser.streamBatchItems(b.id, makeItems(1, task))).sealed, true);
  }

  const other = taskName("other");
  const err = await refused(() => browser.createBatch({ runCount: 1, taskIdentifiers: [task, other] }, undefined, noRetry), 403);
  assert.match(String(err.message), new RegExp(other));

  const b = await browser.createBatch({ runCount: 1, taskIdentifiers: [task] });
  const bad = await refused(() => browser.streamBatchItems(b.id, makeItems(1, other), noRetry), 422);
  assert.match(String(bad.message), /not one of the batch's taskIdentifiers/);
});

test("a trigger token creates a batch of its task; read:tasks reads that task's runs only", async () => {
  const task = taskName("trigger");
  const browser = new ApiClient(baseUrl, await auth.createTriggerPublicToken(task));
  const b = await browser.createBatch({ runCount: 1, taskIdentifiers: [task] });
  await browser.streamBatchItems(b.id, makeItems(1, task));
  const runId = `run_${b.id.slice("batch_".length)}_0`;
  const otherRunId = (id) => `run_${id.slice("batch_".length)}_0`;

  const other = taskName("unread");
  const otherBrowser = new ApiClient(baseUrl, await auth.createBatchTriggerPublicToken(other));
  const ob = await otherBrowser.createBatch({ runCount: 1, taskIdentifiers: [other] });
  await otherBrowser.streamBatchItems(ob.id, makeItems(1, other));

  // Runs are inserted after the seal: wait (with the API key) until both
  // exist, so that a refusal below is the scope's, not a missing run's.
  const server = new ApiClient(baseUrl, apiKey);
  for (const id of [runId, otherRunId(ob.id)]) {
    for (let i = 0; ; i++) {
      try {
        await server.retrieveRun(id, noRetry);
        break;
      } catch (e) {
        if (!(e instanceof ApiError) || e.status !== 404 || i > 240) throw e;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  const reader = new ApiClient(baseUrl, await auth.createPublicToken({ scopes: { read: { tasks: [task] } } }));
  const run = await reader.retrieveRun(runId);
  assert.equal(run.taskIdentifier, task);
  const page = await reader.listRuns({ batch: b.id, taskIdentifier: task });
  assert.deepEqual(page.data.map((r) => r.id), [runId]);

  await refused(() => reader.retrieveRun(otherRunId(ob.id), noRetry), 403);
  await refused(() => reader.listRuns({ batch: ob.id, taskIdentifier: other }, noRetry), 403);
});

test("tasks.batchTrigger inside auth.withBatchTriggerPublicToken creates and streams with the token", async () => {
  const task = taskName("sdk");
  // Which SDKs name the batch's tasks in the create request (taskIdentifiers,
  // where a token's tasks are checked): 4.8.3 does, 4.5.8 does not.
  const original = globalThis.fetch;
  let createBody;
  globalThis.fetch = async (input, init) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    if (/\/api\/v3\/batches$/.test(url) && init?.method === "POST") createBody = JSON.parse(init.body);
    return original(input, init);
  };
  let handle, error;
  try {
    await auth.withBatchTriggerPublicToken(task, {}, async () => {
      handle = await tasks.batchTrigger(task, [{ payload: { n: 1 } }, { payload: { n: 2 } }]);
    });
  } catch (e) {
    error = e;
  } finally {
    globalThis.fetch = original;
  }
  assert.ok(createBody, "the SDK sent a create request");
  if (createBody.taskIdentifiers !== undefined) {
    assert.ifError(error);
    assert.match(handle.batchId, /^batch_/);
    assert.equal(handle.runCount, 2);
  } else {
    assert.match(String(error?.message), /list the batch's tasks in taskIdentifiers/);
  }
});
