// The SDK's realtime subscriptions against streambatch, with the runs
// executed by a real task worker (the Go test starts one for this key's
// environment, serving "gated": a run executes until its metadata says
// {release: true}). runs.subscribeToBatch (API key), subscribeToRunsWithTag
// (a token scoped to the tag) and subscribeToRun (the batch's public token)
// see each run EXECUTING, its metadata change and COMPLETED with its output
// (the loops then end); an aborted subscription ends at once and releases
// its request.
// The latency from a change to its subscriber is printed
// (REALTIME_LATENCY_MS), not asserted.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ApiClient } from "@trigger.dev/core/v3";
import { auth, batch, configure, runs, tasks } from "@trigger.dev/sdk";
import { requireEnv } from "../lib/streambatch.js";

const { STREAMBATCH_URL: baseUrl, STREAMBATCH_EXEC_API_KEY: apiKey } = requireEnv(
  "STREAMBATCH_URL",
  "STREAMBATCH_EXEC_API_KEY",
);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls cond every 50 ms until it holds (the test's own timeout bounds it). */
async function until(cond) {
  while (!cond()) await sleep(50);
}

/** The ids of a batch's n runs, once they all exist. */
async function runIds(batchId, n) {
  for (;;) {
    const b = await batch.retrieve(batchId);
    if (b.runs.length === n) return b.runs;
    await sleep(100);
  }
}

/**
 * Follows a subscription: for each run, the statuses it was seen in (each
 * change once), when it was first seen COMPLETED, when its metadata first
 * said release, and its output. stop(runs) ends the subscription when it
 * returns true.
 */
function follow(name, subscription, stop) {
  const seen = new Map();
  const state = {
    name,
    seen,
    ended: false,
    stopped: false,
    error: undefined,
    done: (async () => {
      try {
        for await (const run of subscription) {
          let s = seen.get(run.id);
          if (!s) seen.set(run.id, (s = { statuses: [] }));
          if (s.statuses.at(-1) !== run.status) s.statuses.push(run.status);
          if (run.metadata?.release && s.releasedSeenAt === undefined) s.releasedSeenAt = Date.now();
          if (run.status === "COMPLETED" && s.completedSeenAt === undefined) {
            s.completedSeenAt = Date.now();
            s.finishedAt = run.finishedAt;
            s.output = run.output;
            s.isCompleted = run.isCompleted;
          }
          // Unsubscribing ends the loop (and the polling). Not break: 4.5.8
          // goes on polling after a break, and its unsubscribe after one
          // throws (its stream's controller is closed twice).
          if (stop && !state.stopped && stop(seen)) {
            state.stopped = true;
            subscription.unsubscribe();
          }
        }
      } catch (e) {
        state.error = e;
      } finally {
        state.ended = true;
      }
    })(),
  };
  return state;
}

const allCompleted = (ids) => (seen) => ids.every((id) => seen.get(id)?.completedSeenAt !== undefined);
const allSeenIn = (sub, ids, status) => ids.every((id) => sub.seen.get(id)?.statuses.includes(status));

test("subscribeToBatch, subscribeToRunsWithTag and subscribeToRun see every run through COMPLETED", { timeout: 180_000 }, async () => {
  configure({ baseURL: baseUrl, accessToken: apiKey });
  const tag = `rt-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  const handle = await tasks.batchTrigger(
    "gated",
    [0, 1, 2].map((n) => ({ payload: { n }, options: { tags: [tag, `rt-other-${n}`] } })),
  );
  const ids = await runIds(handle.batchId, 3);

  const tagToken = await auth.createPublicToken({ scopes: { read: { tags: [tag] } }, expirationTime: "1h" });
  const subs = [
    follow("subscribeToBatch", runs.subscribeToBatch(handle.batchId), allCompleted(ids)),
    await auth.withAuth({ accessToken: tagToken }, async () =>
      follow("subscribeToRunsWithTag", runs.subscribeToRunsWithTag(tag), allCompleted(ids)),
    ),
    // The batch's public token reads its runs. subscribeToRun of 4.8.3
    // ends by itself once the run finishes; 4.5.8's only stops polling (30 s
    // later) and leaves the loop open, so the loop breaks on completion, as
    // the SDK's documentation does.
    await auth.withAuth({ accessToken: handle.publicAccessToken }, async () =>
      follow("subscribeToRun", runs.subscribeToRun(ids[0]), allCompleted([ids[0]])),
    ),
  ];
  const want = (sub) => (sub.name === "subscribeToRun" ? [ids[0]] : ids);

  // Every subscriber sees every run executing (the gated runs wait).
  for (const sub of subs) {
    await until(() => sub.error || allSeenIn(sub, want(sub), "EXECUTING"));
    assert.equal(sub.error, undefined, `${sub.name}: ${sub.error}`);
  }
  // Release them: a metadata change, then the run completes.
  const client = new ApiClient(baseUrl, apiKey);
  const releasedAt = new Map();
  for (const id of ids) {
    releasedAt.set(id, Date.now());
    await client.updateRunMetadata(id, { metadata: { release: true } });
  }
  for (const sub of subs) {
    await sub.done;
    assert.equal(sub.error, undefined, `${sub.name}: ${sub.error}`);
    assert.equal(sub.ended, true);
    const latencies = [];
    for (const id of want(sub)) {
      const s = sub.seen.get(id);
      assert.ok(s, `${sub.name} never saw ${id}`);
      // Statuses in order, ending COMPLETED; QUEUED only if the subscriber
      // came before the task worker.
      assert.deepEqual(
        s.statuses.filter((st) => st !== "QUEUED"),
        ["EXECUTING", "COMPLETED"],
        `${sub.name} ${id}: ${s.statuses}`,
      );
      assert.equal(s.isCompleted, true);
      assert.deepEqual(s.output, { released: ids.indexOf(id) });
      assert.ok(s.finishedAt instanceof Date, `${sub.name} ${id}: finishedAt ${s.finishedAt}`);
      assert.ok(s.releasedSeenAt !== undefined, `${sub.name} ${id}: the metadata change never came`);
      latencies.push({ metadata: s.releasedSeenAt - releasedAt.get(id), completed: s.completedSeenAt - s.finishedAt.getTime() });
    }
    const max = (k) => Math.max(...latencies.map((l) => l[k]));
    console.log(`REALTIME_LATENCY_MS ${sub.name} metadata_max=${max("metadata")} completed_max=${max("completed")}`);
  }
  // The tag subscription saw only the tagged runs.
  assert.deepEqual([...subs[1].seen.keys()].sort(), [...ids].sort());
});

test("an aborted subscription ends and releases its request", { timeout: 120_000 }, async () => {
  configure({ baseURL: baseUrl, accessToken: apiKey });
  const handle = await tasks.batchTrigger("gated", [{ payload: { n: 0 } }]);
  const [id] = await runIds(handle.batchId, 1);
  // Count the realtime requests in flight through fetch.
  const original = globalThis.fetch;
  let inFlight = 0;
  let aborted = 0;
  globalThis.fetch = async (input, init) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    if (!url.includes("/realtime/v1/")) return original(input, init);
    inFlight++;
    try {
      const res = await original(input, init);
      await res.clone().text(); // the body's end, or the abort
      return res;
    } catch (e) {
      if (e?.name === "AbortError") aborted++;
      throw e;
    } finally {
      inFlight--;
    }
  };
  try {
    const controller = new AbortController();
    const sub = follow("subscribeToRun", runs.subscribeToRun(id, { signal: controller.signal }));
    await until(() => sub.error || sub.seen.get(id)?.statuses.includes("EXECUTING"));
    // A live request waits for the next change now.
    await until(() => inFlight > 0);
    controller.abort();
    await sub.done;
    assert.equal(sub.ended, true);
    await until(() => inFlight === 0);
    assert.ok(aborted >= 1, "the live request was not aborted");
  } finally {
    globalThis.fetch = original;
    await runs.cancel(id);
  }
});
