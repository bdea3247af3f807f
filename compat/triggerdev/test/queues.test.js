// The SDK's queue routes against streambatch (queues.retrieve, list,
// pause, resume, overrideConcurrencyLimit, resetConcurrencyLimit), with
// runs executed by the Go test's task worker of this key's environment: a
// paused task queue dispatches none of a batch's runs, resuming it lets the
// batch complete. The task "big" is the queue's: no other compatibility
// test triggers it, so pausing it holds up nothing else.
import { test } from "node:test";
import assert from "node:assert/strict";
import { configure, batch, queues, tasks, runs } from "@trigger.dev/sdk";
import { requireEnv } from "../lib/streambatch.js";

const { STREAMBATCH_URL: baseUrl, STREAMBATCH_EXEC_API_KEY: apiKey } = requireEnv(
  "STREAMBATCH_URL",
  "STREAMBATCH_EXEC_API_KEY",
);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(what, fn) {
  for (let i = 0; i < 480; i++) {
    const v = await fn();
    if (v) return v;
    await sleep(250);
  }
  throw new Error(`timed out waiting for ${what}`);
}

test("queues: retrieve, override, list, pause holds a batch, resume releases it, reset", async () => {
  configure({ baseURL: baseUrl, accessToken: apiKey });
  const ref = { type: "task", name: "big" };

  const fresh = await queues.retrieve(ref);
  assert.equal(fresh.name, "big");
  assert.equal(fresh.type, "task");
  assert.equal(fresh.paused, false);
  assert.equal(fresh.concurrencyLimit, null);
  assert.match(fresh.id, /^queue_/);

  const limited = await queues.overrideConcurrencyLimit(ref, 2);
  assert.equal(limited.concurrencyLimit, 2);
  assert.equal(limited.concurrency.override, 2);
  assert.ok(limited.concurrency.overriddenAt instanceof Date);
  const byId = await queues.retrieve(limited.id);
  assert.equal(byId.name, "big");
  assert.equal(byId.concurrencyLimit, 2);

  const listed = [];
  for await (const q of queues.list({ perPage: 10 })) listed.push(q.name);
  assert.ok(listed.includes("big"), `queues.list: ${JSON.stringify(listed)}`);

  const paused = await queues.pause(ref);
  assert.equal(paused.paused, true);

  const handle = await tasks.batchTrigger(
    "big",
    Array.from({ length: 6 }, (_, i) => ({ payload: { n: i } })),
  );
  // All six wait in the paused queue: none holds a slot.
  const waiting = await until("6 queued runs", async () => {
    const q = await queues.retrieve(ref);
    return q.queued === 6 ? q : null;
  });
  assert.equal(waiting.running, 0);
  const first = await runs.retrieve(`run_${handle.batchId.slice(6)}_0`);
  assert.equal(first.status, "QUEUED");

  const resumed = await queues.resume(ref);
  assert.equal(resumed.paused, false);
  const done = await until("the batch to complete", async () => {
    const b = await batch.retrieve(handle.batchId);
    return b.status === "COMPLETED" ? b : null;
  });
  assert.equal(done.runCount, 6);

  const reset = await queues.resetConcurrencyLimit(ref);
  assert.equal(reset.concurrencyLimit, null);
  assert.equal(reset.concurrency.override, null);
  assert.equal(reset.paused, false);
});
