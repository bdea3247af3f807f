// A page that follows a batch and one of its runs with the React hooks of
// @trigger.dev/react-hooks, unchanged: useRealtimeBatch and useRealtimeRun
// with the batch's public access token, against streambatch on another
// origin (its realtime routes answer CORS). It renders each run's status
// and output, and records when each status was first rendered
// (window.__events) for realtime.test.js.
import { useEffect } from "react";
import { createRoot } from "react-dom/client";
import { useRealtimeBatch, useRealtimeRun } from "@trigger.dev/react-hooks";

const q = new URLSearchParams(location.search);
const options = { accessToken: q.get("token"), baseURL: q.get("api") };
window.__events = [];

function record(hook, run) {
  const seen = window.__events.some((e) => e.hook === hook && e.id === run.id && e.status === run.status);
  if (!seen) {
    window.__events.push({ hook, id: run.id, status: run.status, at: Date.now(), finishedAt: run.finishedAt?.getTime() ?? null });
  }
}

function Batch() {
  const { runs, error } = useRealtimeBatch(q.get("batch"), options);
  useEffect(() => runs.forEach((r) => record("useRealtimeBatch", r)), [runs]);
  return (
    <section id="batch" data-error={error ? String(error) : ""}>
      {runs.map((r) => (
        <p key={r.id} className="batch-run" data-id={r.id} data-status={r.status} data-output={JSON.stringify(r.output ?? null)}>
          {r.id}: {r.status}
        </p>
      ))}
    </section>
  );
}

function Run() {
  const { run, error } = useRealtimeRun(q.get("run"), options);
  useEffect(() => run && record("useRealtimeRun", run), [run]);
  return (
    <section id="run" data-error={error ? String(error) : ""} data-status={run?.status ?? ""} data-output={JSON.stringify(run?.output ?? null)}>
      {run ? `${run.id}: ${run.status}` : "waiting"}
    </section>
  );
}

createRoot(document.getElementById("root")).render(
  <>
    <Batch />
    <Run />
  </>,
);
