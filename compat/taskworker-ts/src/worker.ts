// A streambatch task worker written with the Temporal TypeScript SDK.
//
// Every run of a batch is a Temporal activity: its type is the run's task,
// its task queue "runs.<environment>", its one argument the run envelope
// (JSON). The return value becomes the run's output; a thrown error fails
// the attempt. Nothing here is specific to Go or to streambatch's code:
// only the envelope contract.
//
// Payloads are encrypted with streambatch's keys (STREAMBATCH_PAYLOAD_KEYS,
// the same set the streambatch worker has): see codec.ts.
//
//   TEMPORAL_ADDRESS=127.0.0.1:7233 STREAMBATCH_ENV=dev STREAMBATCH_PAYLOAD_KEYS=k1:… node dist/worker.js
import { Context } from "@temporalio/activity";
import { ApplicationFailure } from "@temporalio/common";
import { NativeConnection, Worker } from "@temporalio/worker";
import { createHash } from "node:crypto";
import { StreambatchCodec } from "./codec.js";

/** The run envelope (unknown fields are ignored). */
export interface Envelope {
  id: string;
  batchId: string;
  index: number;
  task: string;
  payload?: string;
  payloadType: string;
  payloadUrl?: string;
  /** Set when the payload travels by reference (payloadType is then
   * application/store and payloadUrl a signed URL of streambatch's API):
   * the type of the payload payloadUrl returns. */
  payloadRefType?: string;
  attempt: number;
  metadata?: unknown;
  tags?: string[];
  idempotencyKey?: string;
}

/** The payload's bytes: inline packet text, or the stored object. */
async function payloadOf(run: Envelope): Promise<string> {
  if (run.payloadType !== "application/store") return run.payload ?? "";
  if (!run.payloadUrl) throw new Error(`run ${run.id}: stored payload without payloadUrl`);
  const res = await fetch(run.payloadUrl);
  if (!res.ok) {
    const msg = `run ${run.id}: fetch payload: HTTP ${res.status} ${(await res.text()).slice(0, 512)}`;
    // A reference refused for good (forged or expired, no such run, run
    // finished) fails the same way at every attempt.
    if (run.payloadRefType && [403, 404, 410].includes(res.status)) throw ApplicationFailure.nonRetryable(msg);
    throw new Error(msg);
  }
  return await res.text();
}

/** The run as it would have arrived inline: a payload sent by reference is
 * fetched, with its own type. Tasks then never see references. */
async function resolve(run: Envelope): Promise<Envelope> {
  if (!run.payloadRefType) return run;
  const payload = await payloadOf(run);
  const { payloadUrl: _url, payloadRefType, ...rest } = run;
  return { ...rest, payload, payloadType: payloadRefType };
}

/** Wraps each task so that it receives the resolved run. */
function resolving<T extends Record<string, (run: Envelope) => Promise<unknown>>>(tasks: T): T {
  return Object.fromEntries(
    Object.entries(tasks).map(([name, fn]) => [name, async (run: Envelope) => fn(await resolve(run))]),
  ) as T;
}

/** The attempt running now (1-based; replays count). */
function attempt(run: Envelope): number {
  return run.attempt - 1 + Context.current().info.attempt;
}

const activities = resolving({
  /** Greets {name}; answers which language did it. */
  async hello(run: Envelope) {
    const { name } = JSON.parse((await payloadOf(run)) || "{}");
    return { greeting: `hello, ${name}`, from: "typescript", attempt: attempt(run) };
  },
  /** Size, SHA-256 and type of any payload, stored ones included. */
  async checksum(run: Envelope) {
    const data = await payloadOf(run);
    return {
      bytes: Buffer.byteLength(data),
      sha256: createHash("sha256").update(data).digest("hex"),
      type: run.payloadType,
      byRef: run.payloadRefType !== undefined,
    };
  },
  /** Fails its first attempt, then succeeds. */
  async flaky(run: Envelope) {
    if (attempt(run) === 1) throw new Error(`first attempt of ${run.id} fails`);
    return { attempt: attempt(run) };
  },
});

async function main() {
  const address = process.env.TEMPORAL_ADDRESS ?? "127.0.0.1:7233";
  const env = process.env.STREAMBATCH_ENV ?? "dev";
  const connection = await NativeConnection.connect({ address });
  const worker = await Worker.create({
    connection,
    namespace: process.env.TEMPORAL_NAMESPACE ?? "default",
    taskQueue: `runs.${env}`,
    activities,
    dataConverter: { payloadCodecs: [new StreambatchCodec(process.env.STREAMBATCH_PAYLOAD_KEYS ?? "")] },
    maxConcurrentActivityTaskExecutions: 50,
  });
  console.log(`ready: executing runs of environment ${env} on task queue runs.${env}`);
  await worker.run();
  await connection.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
