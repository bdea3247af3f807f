package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/streambatch/streambatch/client"
	"github.com/streambatch/streambatch/internal/bench"
	"github.com/streambatch/streambatch/internal/config"
)

// synopsis heads the usage text.
const synopsis = `Measures streambatch against the algorithms it replaces (sequential, pmap10)
and the physical floor (raw S3 PUTs + COPY), in one run, on the same
PostgreSQL and S3, with a fixed delay added to every S3 request. It starts its
own stack (PostgreSQL unless DATABASE_URL is set, versitygw, Temporal, and
streambatch serve + worker as separate processes) under a temporary folder.
Tuning settings (STREAMBATCH_CHUNK_ITEMS, ...) are passed to serve and worker.`

// runBench parses the flags, starts the stack and runs the chosen
// scenarios.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("streambatch-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: streambatch-bench [flags]\n\n%s\n", synopsis)
		fs.PrintDefaults()
	}
	scenarios := fs.String("scenario", "all", "scenarios: all (L,M,S,C,C1) or a comma-separated list of "+scenarioNames()+",E (runs executed: see --runs),B (small batches: see --batches, --clients, --duration),R (reads: API peak RSS while --clients clients list a batch of --read-runs runs of 400 KB payloads and outputs)")
	readRuns := fs.Int("read-runs", 1000, "scenario R: runs in the batch read")
	readAPI := fs.String("read-compare", "", "scenario R: also measure `streambatch serve` of this other binary (e.g. an older version)")
	readCompareClients := fs.Int("read-compare-clients", 1, "scenario R: clients reading from the --read-compare API (an older version held GBs per client)")
	runs := fs.Int("runs", 100_000, "scenario E: no-op runs to execute")
	sliceSizes := fs.String("slice", "1", "scenario E: comma-separated slice sizes K to measure streambatch with (1: one activity per run; K > 1: a sliced no-op task, STREAMBATCH_SLICED_TASKS)")
	anchor := fs.Bool("anchor", true, "scenario E: measure the anchor too (false: streambatch only, e.g. the second side of an A/B)")
	payloadBytes := fs.Int("payload-bytes", 0, "scenario E: each run's payload size in bytes (0: none); payloads of STREAMBATCH_PAYLOAD_REF_THRESHOLD or more go by reference unless it is 0")
	clients := fs.Int("clients", 20, "scenarios B and R: concurrent clients (of B's load mode; R's readers, e.g. 10)")
	loadFor := fs.Duration("duration", 20*time.Second, "scenario B: how long the load mode runs")
	sequential := fs.Int("batches", 50, "scenario B: batches of the one-client latency mode")
	latencies := fs.String("s3-latency", "0ms", "comma-separated S3 latencies to inject, e.g. 0ms,50ms,200ms")
	systems := fs.String("systems", strings.Join(bench.AllSystems, ","), "systems to run")
	jsonOut := fs.String("json", "", "write one JSON object per line per (scenario, latency, system) to this file (- for stdout)")
	keep := fs.String("data-dir", "", "keep the stack's data here (default: a temporary folder, removed after)")
	temporal := fs.String("temporal", "dev", "Temporal: dev (the CLI dev server, in memory) or server (the real server on PostgreSQL, SQL visibility)")
	workers := fs.Int("workers", 1, "streambatch worker processes")
	replicas := fs.Int("replicas", 1, "streambatch serve processes; batches are spread over them round-robin")
	keyed := fs.Int("keyed", 0, "also run each chosen scenario (of L,M,S,C,C1,X) right after itself with this percentage of its items carrying an idempotency key of their own (named e.g. S+keys10%), so both are measured in the same run")
	binary := fs.String("streambatch", "", "the streambatch binary whose serve and worker are measured (default: streambatch beside this command, else on PATH)")
	if err := fs.Parse(args); err != nil {
		return errors.Join(err, errUsage) // fs printed it, with the usage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected arguments: %v (see --help)\n", fs.Args())
		return errUsage
	}
	if *temporal != "dev" && *temporal != "server" {
		fmt.Fprintf(stderr, "bad --temporal %q: want dev or server\n", *temporal)
		return errUsage
	}
	if *keyed < 0 || *keyed > 100 {
		fmt.Fprintln(stderr, "--keyed must be a percentage from 0 to 100")
		return errUsage
	}
	if *workers < 1 || *workers > 16 || *replicas < 1 || *replicas > 16 {
		fmt.Fprintln(stderr, "--workers and --replicas must be between 1 and 16")
		return errUsage
	}
	opts := bench.Options{Table: stdout}
	execution, small, reads := false, false, false
	for _, name := range strings.Split(*scenarios, ",") {
		name = strings.TrimSpace(name)
		if strings.EqualFold(name, "E") {
			execution = true
			continue
		}
		if strings.EqualFold(name, "B") {
			small = true
			continue
		}
		if strings.EqualFold(name, "R") {
			reads = true
			continue
		}
		if name == "all" {
			for _, sc := range bench.Scenarios {
				opts.Scenarios = appendKeyed(opts.Scenarios, sc, *keyed)
			}
			continue
		}
		sc, ok := bench.ScenarioByName(name)
		if !ok {
			fmt.Fprintf(stderr, "unknown scenario %q (have %s)\n", name, scenarioNames())
			return errUsage
		}
		opts.Scenarios = appendKeyed(opts.Scenarios, sc, *keyed)
	}
	for _, l := range strings.Split(*latencies, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(l))
		if err != nil || d < 0 {
			fmt.Fprintf(stderr, "bad --s3-latency %q: want durations such as 0ms,50ms\n", l)
			return errUsage
		}
		opts.Latencies = append(opts.Latencies, d)
	}
	for _, s := range strings.Split(*systems, ",") {
		s = strings.TrimSpace(s)
		if !slices.Contains(bench.AllSystems, s) {
			fmt.Fprintf(stderr, "unknown system %q (have %s)\n", s, strings.Join(bench.AllSystems, ","))
			return errUsage
		}
		opts.Systems = append(opts.Systems, s)
	}
	if *jsonOut == "-" {
		opts.JSON = stdout
		opts.Table = stderr
	} else if *jsonOut != "" {
		f, err := os.Create(*jsonOut)
		if err != nil {
			return err
		}
		defer f.Close()
		opts.JSON = f
	}
	var sliceKs []int
	for _, k := range strings.Split(*sliceSizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(k))
		if err != nil || n < 1 || n > config.MaxSliceSize {
			fmt.Fprintf(stderr, "bad --slice %q: want sizes from 1 to %d, e.g. 1,50\n", k, config.MaxSliceSize)
			return errUsage
		}
		sliceKs = append(sliceKs, n)
	}
	bin, err := streambatchBinary(*binary)
	if err != nil {
		return err
	}
	base, err := config.FromEnv(os.Getenv)
	if err != nil {
		return err
	}
	for _, k := range sliceKs {
		if k > 1 {
			if base.SlicedTasks == nil {
				base.SlicedTasks = map[string]int{}
			}
			base.SlicedTasks[bench.SlicedNoop(k)] = k
		}
	}
	if err := base.Validate(0); err != nil {
		return err
	}
	dir := *keep
	if dir == "" {
		if dir, err = os.MkdirTemp("", "streambatch-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		_ = os.Chmod(dir, 0o755) // PostgreSQL may run as another user
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	fmt.Fprintln(stderr, "starting the benchmark stack…")
	st, err := bench.StartStack(ctx, dir, bin, base, bench.StackOptions{TemporalServer: *temporal == "server", Workers: *workers, Replicas: *replicas}, logger)
	if err != nil {
		return err
	}
	defer st.Stop()
	var replicaClients []*client.Client
	for _, u := range st.APIURLs {
		c, err := client.New(u, st.APIKey, client.WithRetry(client.RetryPolicy{MaxAttempts: 10}))
		if err != nil {
			return err
		}
		replicaClients = append(replicaClients, c)
	}
	c := replicaClients[0]
	tc, err := dialTemporal(ctx, st.Config.TemporalAddress, st.Config.PayloadKeys)
	if err != nil {
		return err
	}
	defer tc.Close()
	pool, err := pgxpool.New(ctx, st.Config.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	baselines := &bench.Baselines{DB: pool, Objects: st.Objects, Threshold: st.Config.OffloadThreshold, FloorConcurrency: []int{16, 32, 64, 128}}
	if err := baselines.Prepare(ctx); err != nil {
		return err
	}
	sb := &bench.Streambatch{Client: c, Replicas: replicaClients, Temporal: tc, Namespace: st.Config.TemporalNamespace, APIPid: st.API.Pid(), WorkerPid: st.Worker.Pid()}
	opts.CPU = map[string]int{"bench": os.Getpid()}
	for k, p := range st.APIs {
		opts.CPU[numbered("api", k)] = p.Pid()
	}
	for k, p := range st.Workers {
		opts.CPU[numbered("worker", k)] = p.Pid()
	}
	for name, pid := range st.Services.Pids() {
		opts.CPU[name] = pid
	}
	fmt.Fprintf(stderr, "machine: %s\n", machineSummary())
	if execution {
		if *runs < 1 {
			fmt.Fprintln(stderr, "--runs must be at least 1")
			return errUsage
		}
		_, err := bench.RunExecution(ctx, sb, tc, bench.ExecOptions{Runs: *runs, Window: st.Config.RunConcurrency, Slices: sliceKs,
			Env: "bench", JSON: opts.JSON, Table: opts.Table, CPU: opts.CPU, PayloadBytes: *payloadBytes, NoAnchor: !*anchor})
		if err != nil {
			return err
		}
	}
	if small {
		// A second API with the default STREAMBATCH_SEAL_WAIT answers
		// sealed:true as soon as the items are durably accepted, beside
		// the bench's, which waits for the seal (every run created).
		fastURL, fastAPI, err := st.StartAPI(ctx, "serve-accepted", config.EnvSealWait+"=0s")
		if err != nil {
			return err
		}
		defer fastAPI.Stop(10 * time.Second)
		fast, err := client.New(fastURL, st.APIKey)
		if err != nil {
			return err
		}
		// A third API gives every batch its own BatchRuns
		// (STREAMBATCH_SMALL_BATCH_RUNS=0), as before small batches ran
		// their runs in their BatchIngest: the A/B of that change.
		twoURL, twoAPI, err := st.StartAPI(ctx, "serve-two-workflows", config.EnvSealWait+"=0s", config.EnvSmallBatchRuns+"=0")
		if err != nil {
			return err
		}
		defer twoAPI.Stop(10 * time.Second)
		two, err := client.New(twoURL, st.APIKey)
		if err != nil {
			return err
		}
		const items = 10
		_, err = bench.RunSmall(ctx, tc, pool, []bench.SmallSystem{
			bench.StreambatchSmall("streambatch-two-workflows", two, items),
			bench.StreambatchSmall("streambatch", fast, items),
			bench.StreambatchSmall("streambatch-seal-wait", c, items),
		}, bench.SmallOptions{Items: items, Sequential: *sequential, Clients: *clients, Duration: *loadFor,
			Env: "bench", JSON: opts.JSON, Table: opts.Table, CPU: opts.CPU})
		if err != nil {
			return err
		}
	}
	if reads {
		apis := []bench.ReadsAPI{{Name: "this", URL: st.APIURL, Pid: st.API.Pid()}}
		if *readAPI != "" {
			u, p, err := st.StartAPIFrom(ctx, "serve-compare", *readAPI)
			if err != nil {
				return err
			}
			defer p.Stop(10 * time.Second)
			apis = append(apis, bench.ReadsAPI{Name: "compare", URL: u, Pid: p.Pid(), Clients: *readCompareClients})
		}
		results, err := bench.RunReads(ctx, pool, bench.ReadsOptions{Runs: *readRuns, ValueBytes: 400_000, Clients: *clients,
			APIs: apis, Key: st.APIKey, JSON: opts.JSON, Table: opts.Table})
		if err != nil {
			return err
		}
		for _, r := range results {
			if r.Error != "" {
				return fmt.Errorf("R/%s/%s failed: %s", r.API, r.Route, r.Error)
			}
		}
	}
	if len(opts.Scenarios) == 0 {
		return nil
	}
	results, err := bench.Run(ctx, sb, baselines, st.Proxy, opts)
	if err != nil {
		return err
	}
	for _, r := range results {
		if r.Error != "" {
			return fmt.Errorf("%s/%dms/%s failed: %s", r.Scenario, r.S3LatencyMs, r.System, r.Error)
		}
	}
	return nil
}

// numbered names the k-th process of a kind: api, api2, api3, …
func numbered(kind string, k int) string {
	if k == 0 {
		return kind
	}
	return fmt.Sprintf("%s%d", kind, k+1)
}

// appendKeyed appends sc, and with pct > 0 its keyed twin right after it.
func appendKeyed(scs []bench.Scenario, sc bench.Scenario, pct int) []bench.Scenario {
	scs = append(scs, sc)
	if pct > 0 {
		scs = append(scs, sc.Keyed(pct))
	}
	return scs
}

// scenarioNames lists the scenarios --scenario takes by name.
func scenarioNames() string {
	var names []string
	for _, s := range append(bench.Scenarios, bench.Extra...) {
		names = append(names, s.Name)
	}
	return strings.Join(names, ",")
}
