// The SDK's read side against streambatch, with the runs executed by a real
// task worker (the Go test starts one for this key's environment, serving
// "echo" and "broken"): batch.retrieve until COMPLETED, runs.retrieve of a
// completed and a failed run, runs.list({ batch }) page by page (both ways) and filtered
// by status, task and creation time (an unsupported filter is a 400),
// runs.list() of the environment's runs, runs.cancel
// of a delayed run, the batch and run results routes, an expired run's
// expiredAt, runs.replay of a failed run, runs.reschedule of a delayed
// one, ApiClient.addTags and run metadata.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ApiClient, ApiError } from "@trigger.dev/core/v3";
import { auth, configure, batch, runs, tasks } from "@trigger.dev/sdk";
import { requireEnv } from "../lib/streambatch.js";

const {
  STREAMBATCH_URL: baseUrl,
  STREAMBATCH_EXEC_API_KEY: apiKey,
  STREAMBATCH_OTHER_API_KEY: otherKey,
} = requireEnv("STREAMBATCH_URL", "STREAMBATCH_EXEC_API_KEY", "STREAMBATCH_OTHER_API_KEY");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function untilDone(batchId) {
  for (let i = 0; i < 240; i++) {
    const b = await batch.retrieve(batchId);
    if (b.status === "COMPLETED" || b.status === "PARTIAL_FAILED" || b.status === "ABORTED") return b;
    await sleep(250);
  }
  throw new Error(`batch ${batchId} did not complete`);
}

test("batchTrigger → executed → batch.retrieve, runs.retrieve, runs.list, results", async () => {
  configure({ baseURL: baseUrl, accessToken: apiKey });
  const items = Array.from({ length: 30 }, (_, i) => ({ payload: { n: i } }));
  const handle = await tasks.batchTrigger("echo", items);
  const done = await untilDone(handle.batchId);
  assert.equal(done.status, "COMPLETED");
  assert.equal(done.runCount, 30);
  assert.equal(done.runs.length, 30);
  assert.deepEqual(done.processing.errors, []);
  assert.ok(done.processing.completedAt instanceof Date);

  const run = await runs.retrieve(done.runs[7]);
  assert.equal(run.status, "COMPLETED");
  assert.equal(run.isSuccess, true);
  assert.equal(run.isCompleted, true);
  assert.equal(run.batchId, handle.batchId);
  assert.equal(run.triggerFunction, "batchTrigger");
  assert.equal(run.taskIdentifier, "echo");
  assert.deepEqual(run.payload, { n: 7 });
  assert.deepEqual(run.output, { doubled: 14 });
  assert.equal(run.attemptCount, 1);
  assert.ok(run.finishedAt instanceof Date);

  // runs.list({ batch }) pages through every run (page size 10).
  const seen = [];
  for await (const r of runs.list({ batch: handle.batchId, limit: 10 })) {
    seen.push(r.id);
    assert.equal(r.status, "COMPLETED");
  }
  assert.deepEqual(seen, done.runs);
  // getPreviousPage (page[before]) of the second page is the first page.
  const first = await runs.list({ batch: handle.batchId, limit: 10 });
  const second = await first.getNextPage();
  assert.deepEqual(second.data.map((r) => r.id), done.runs.slice(10, 20));
  const back = await second.getPreviousPage();
  assert.deepEqual(back.data.map((r) => r.id), done.runs.slice(0, 10));
  assert.equal(back.hasPreviousPage(), false);

  // The results route of the low-level client.
  const client = new ApiClient(baseUrl, apiKey);
  const results = await client.getBatchResults(handle.batchId);
  assert.equal(results.id, handle.batchId);
  assert.equal(results.items.length, 30);
  assert.ok(results.items.every((it) => it.ok));
  assert.deepEqual(JSON.parse(results.items[3].output), { doubled: 6 });
  // One run's result (ApiClient.getRunResult).
  const one = await client.getRunResult(done.runs[3]);
  assert.equal(one.ok, true);
  assert.equal(one.id, done.runs[3]);
  assert.deepEqual(JSON.parse(one.output), { doubled: 6 });

  // Another environment sees nothing of it.
  const other = new ApiClient(baseUrl, otherKey);
  await assert.rejects(other.retrieveBatch(handle.batchId), /404|not found/i);
  await assert.rejects(other.retrieveRun(done.runs[0]), /404|not found/i);
});

test("runs.list() without a batch lists the environment's runs, newest first", async () => {
  configure({ baseURL: baseUrl, accessToken: apiKey });
  const items = Array.from({ length: 12 }, (_, i) => ({ payload: { n: i } }));
  const handle = await tasks.batchTrigger("echo", items);
  const done = await untilDone(handle.batchId);
  const mine = new Set(done.runs);
  // Other tests' runs of the environment may come between; this batch's
  // runs come newest (highest index) first, page by page (5 a page).
  const listed = [];
  for await (const r of runs.list({ limit: 5 })) {
    if (mine.has(r.id)) listed.push(r.id);
    if (listed.length === mine.size) break;
  }
  assert.deepEqual(listed, [...done.runs].reverse());
  // Another environment lists none of them.
  const other = new ApiClient(baseUrl, otherKey);
  for await (const r of other.listRuns()) assert.ok(!mine.has(r.id), `another environment lists ${r.id}`);
});

test("a failed run: runs.retrieve shows its error and attempts", async () => {
  configure({ baseURL: baseUrl, accessToken: apiKey });
  const handle = await batch.trigger([
    { id: "echo", payload: { n: 1 }, options: { tags: ["kept"] } },
    { id: "broken", payload: { n: 2 }, options: { maxAttempts: 2, tags: ["other"] } },
  ]);
  const done = await untilDone(handle.batchId);
  assert.equal(done.status, "COMPLETED");
  const failed = await runs.retrieve(done.runs[1]);
  assert.equal(failed.status, "FAILED");
  assert.equal(failed.isFailed, true);
  assert.equal(failed.isSuccess, false);
  assert.equal(failed.attemptCount, 2);
  assert.match(failed.error.message, /broken task for 2/);
  const client = new ApiClient(baseUrl, apiKey);
  const results = await client.getBatchResults(handle.batchId);
  assert.equal(results.items[1].ok, false);
  assert.match(results.items[1].error.message, /broken task for 2/);
  const one = await client.getRunResult(done.runs[1]);
  assert.equal(one.ok, false);
  assert.match(one.error.message, /broken task for 2/);

  // runs.list filters by status and task within the batch.
  const list = async (query) => {
    const ids = [];
    for await (const r of runs.list({ batch: handle.batchId, ...query })) ids.push(r.id);
    return ids;
  };
  assert.deepEqual(await list({ status: ["FAILED"] }), [done.runs[1]]);
  assert.deepEqual(await list({ status: ["COMPLETED", "CANCELED"] }), [done.runs[0]]);
  assert.deepEqual(await list({ taskIdentifier: "broken" }), [done.runs[1]]);
  assert.deepEqual(await list({ taskIdentifier: ["echo"], status: "FAILED" }), []);
  // …and by creation time (from / to as Dates, sent as milliseconds; period).
  const hourAgo = new Date(Date.now() - 3600_000);
  const inAMinute = new Date(Date.now() + 60_000);
  assert.deepEqual(await list({ from: hourAgo, to: inAMinute }), done.runs);
  assert.deepEqual(await list({ to: hourAgo }), []);
  assert.deepEqual(await list({ period: "1h", status: ["FAILED"] }), [done.runs[1]]);
  // …and by tag: the runs carrying any of the tags.
  assert.deepEqual(await list({ tag: "kept" }), [done.runs[0]]);
  assert.deepEqual(await list({ tag: ["kept", "other"] }), done.runs);
  assert.deepEqual(await list({ tag: "nowhere" }), []);
  // A filter streambatch does not honour is a 400, never a silent full list.
  await assert.rejects(list({ version: "20250101.1" }), (err) => {
    assert.ok(err instanceof ApiError, `expected an ApiError, got ${err}`);
    assert.equal(err.status, 400);
    assert.match(err.message, /filter\[version\] is not supported/);
    return true;
  });
});

test("runs.cancel of a delayed run", async () => {
  configure({ baseURL: baseUrl, accessToken: apiKey });
  const handle = await batch.trigger([
    { id: "echo", payload: { n: 1 }, options: { delay: "1h" } },
    { id: "echo", payload: { n: 2 } },
  ]);
  let delayed;
  for (let i = 0; i < 100; i++) {
    const b = await batch.retrieve(handle.batchId);
    if (b.runs.length === 2) {
      delayed = await runs.retrieve(b.runs[0]);
      if (delayed.status === "DELAYED") break;
    }
    await sleep(100);
  }
  assert.equal(delayed.status, "DELAYED");
  assert.ok(delayed.delayedUntil instanceof Date);
  // A run not finished has no result: the SDK answers undefined.
  assert.equal(await new ApiClient(baseUrl, apiKey).getRunResult(delayed.id), undefined);
  const canceled = await runs.cancel(delayed.id);
  assert.equal(canceled.id, delayed.id);
  const after = await runs.retrieve(delayed.id);
  assert.equal(after.status, "CANCELED");
  assert.equal(after.isCancelled, true);
  const done = await untilDone(handle.batchId);
  assert.equal(done.status, "COMPLETED");
});

test("an expired run: runs.retrieve and runs.list give its expiredAt", async () => {
  configure({ baseURL: baseUrl, accessToken: apiKey });
  // No task worker polls the queue "unserved": the run expires after its ttl.
  const handle = await batch.trigger([{ id: "echo", payload: { n: 1 }, options: { ttl: "1s", queue: "unserved" } }]);
  const done = await untilDone(handle.batchId);
  const run = await runs.retrieve(done.runs[0]);
  assert.equal(run.status, "EXPIRED");
  assert.ok(run.expiredAt instanceof Date, `expiredAt ${run.expiredAt}`);
  assert.equal(run.expiredAt.getTime(), run.finishedAt.getTime());
  for await (const r of runs.list({ batch: handle.batchId })) {
    assert.equal(r.expiredAt?.getTime(), run.expiredAt.getTime());
  }
});

// waitForStatus polls runs.retrieve until run id is in status.
async function waitForStatus(id, status) {
  let run;
  for (let i = 0; i < 240; i++) {
    run = await runs.retrieve(id);
    if (run.status === status) return run;
    await sleep(250);
  }
  throw new Error(`run ${id} is ${run?.status}, not ${status}`);
}

const isStatus = (status) => (err) => {
  assert.ok(err instanceof ApiError, `expected an ApiError, got ${err}`);
  assert.equal(err.status, status);
  return true;
};

test("runs.replay of a failed run: it runs again, once, under its own id", async (t) => {
  if (typeof runs.replay !== "function") return t.skip("this SDK has no runs.replay");
  configure({ baseURL: baseUrl, accessToken: apiKey });
  const handle = await batch.trigger([
    { id: "broken", payload: { n: 3 }, options: { maxAttempts: 1 } },
    { id: "echo", payload: { n: 4 } },
  ]);
  const done = await untilDone(handle.batchId);
  const before = await runs.retrieve(done.runs[0]);
  assert.equal(before.status, "FAILED");
  assert.equal(before.attemptCount, 1);
  const replayed = await runs.replay(done.runs[0]);
  assert.equal(replayed.id, done.runs[0]);
  const again = await untilDone(handle.batchId);
  assert.equal(again.status, "COMPLETED");
  const after = await runs.retrieve(done.runs[0]);
  assert.equal(after.status, "FAILED");
  assert.equal(after.attemptCount, 2, "the replay ran the run exactly once more");
  // A completed run is not replayed.
  await assert.rejects(runs.replay(done.runs[1]), isStatus(422));
});

test("runs.reschedule of a delayed run", async (t) => {
  if (typeof runs.reschedule !== "function") return t.skip("this SDK has no runs.reschedule");
  configure({ baseURL: baseUrl, accessToken: apiKey });
  const handle = await batch.trigger([
    { id: "echo", payload: { n: 5 }, options: { delay: "1h" } },
    { id: "echo", payload: { n: 6 } },
  ]);
  let ids;
  for (let i = 0; i < 100 && !ids; i++) {
    const b = await batch.retrieve(handle.batchId);
    if (b.runs.length === 2) ids = b.runs;
    else await sleep(100);
  }
  const delayed = await waitForStatus(ids[0], "DELAYED");
  const moved = await runs.reschedule(delayed.id, { delay: "1s" });
  assert.equal(moved.id, delayed.id);
  assert.ok(moved.delayedUntil < delayed.delayedUntil, `delayedUntil ${moved.delayedUntil}`);
  const ran = await waitForStatus(delayed.id, "COMPLETED");
  assert.deepEqual(ran.output, { doubled: 10 });
  // A run that is not DELAYED is not rescheduled.
  await assert.rejects(runs.reschedule(delayed.id, { delay: "1h" }), isStatus(422));
});

test("ApiClient.addTags: runs.retrieve and runs.list show the run's new tags", async (t) => {
  const client = new ApiClient(baseUrl, apiKey);
  if (typeof client.addTags !== "function") return t.skip("this SDK has no ApiClient.addTags");
  configure({ baseURL: baseUrl, accessToken: apiKey });
  const handle = await batch.trigger([{ id: "echo", payload: { n: 7 }, options: { tags: ["first"] } }]);
  const done = await untilDone(handle.batchId);
  const answer = await client.addTags(done.runs[0], { tags: ["second", "first"] });
  assert.match(answer.message, /1 new tag/);
  assert.deepEqual((await runs.retrieve(done.runs[0])).tags, ["first", "second"]);
  for await (const r of runs.list({ batch: handle.batchId })) assert.deepEqual(r.tags, ["first", "second"]);
  // More than ten tags are refused.
  const many = Array.from({ length: 9 }, (_, i) => `t${i}`);
  await assert.rejects(client.addTags(done.runs[0], { tags: many }), isStatus(422));
});

test("run metadata outside the run: getRunMetadata and updateRunMetadata", async (t) => {
  const client = new ApiClient(baseUrl, apiKey);
  if (typeof client.updateRunMetadata !== "function") return t.skip("this SDK has no updateRunMetadata");
  configure({ baseURL: baseUrl, accessToken: apiKey });
  const handle = await batch.trigger([
    { id: "echo", payload: { n: 8 }, options: { delay: "1h", metadata: { progress: 0, steps: ["queued"] } } },
  ]);
  let id;
  for (let i = 0; i < 100 && !id; i++) {
    const b = await batch.retrieve(handle.batchId);
    if (b.runs.length === 1) id = b.runs[0];
    else await sleep(100);
  }
  await waitForStatus(id, "DELAYED");
  assert.deepEqual((await client.getRunMetadata(id)).metadata, { progress: 0, steps: ["queued"] });
  const updated = await client.updateRunMetadata(id, {
    operations: [
      { type: "increment", key: "progress", value: 5 },
      { type: "append", key: "steps", value: "seen" },
      { type: "set", key: "owner", value: "ops" },
    ],
  });
  assert.deepEqual(updated.metadata, { progress: 5, steps: ["queued", "seen"], owner: "ops" });
  assert.deepEqual((await runs.retrieve(id)).metadata, updated.metadata);
  // A finished run's metadata does not change.
  await runs.cancel(id);
  await assert.rejects(client.updateRunMetadata(id, { metadata: { x: 1 } }), isStatus(422));
});

test("public access tokens: the batch's own and one the SDK signs itself read that batch only", async () => {
  configure({ baseURL: baseUrl, accessToken: apiKey });
  const a = await tasks.batchTrigger("echo", [{ payload: { n: 1 } }]);
  const b = await tasks.batchTrigger("echo", [{ payload: { n: 2 } }]);
  await untilDone(a.batchId);
  const signed = await auth.createPublicToken({ scopes: { read: { batch: a.batchId } } });

  for (const [name, token] of [["x-trigger-jwt", a.publicAccessToken], ["SDK-signed", signed]]) {
    configure({ baseURL: baseUrl, accessToken: token });
    const got = await batch.retrieve(a.batchId);
    assert.equal(got.id, a.batchId, name);
    const run = await runs.retrieve(got.runs[0]);
    assert.deepEqual(run.output, { doubled: 2 }, name);
    await assert.rejects(batch.retrieve(b.batchId), /403|grant/, `${name} reads another batch`);
    await assert.rejects(tasks.batchTrigger("echo", [{ payload: { n: 3 } }]), /does not grant triggering tasks/, `${name} creates a batch`);
  }

  // A token of another environment does not see this environment's batch.
  configure({ baseURL: baseUrl, accessToken: otherKey });
  const foreign = await auth.createPublicToken({ scopes: { read: { batch: a.batchId } } });
  configure({ baseURL: baseUrl, accessToken: foreign });
  await assert.rejects(batch.retrieve(a.batchId), /404|not found/i);
});
