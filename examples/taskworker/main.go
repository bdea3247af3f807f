// Command taskworker is a runnable streambatch task worker: it executes the
// runs of one environment with two example tasks.
//
//	go run ./examples/taskworker --env dev
//
// "hello" answers {"greeting": "hello, <name>"} for a payload {"name": …};
// "checksum" reads any payload (also a large one stored in S3) and answers
// its size and SHA-256; "sleep" waits {"ms": …} milliseconds, heartbeating,
// and stops early when its run is cancelled. "sleep" is registered sliced
// too (tasks.RegisterSliced): with STREAMBATCH_SLICED_TASKS=sleep=10 on the
// streambatch worker its runs arrive ten to an activity. Runs of other tasks fail with
// "unable to find activityType" and are retried as their maxAttempts allows.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/streambatch/streambatch/codec"
	"github.com/streambatch/streambatch/tasks"
)

type helloIn struct {
	Name string `json:"name"`
}

type helloOut struct {
	Greeting string `json:"greeting"`
}

func hello(ctx context.Context, in helloIn) (helloOut, error) {
	if in.Name == "" {
		// Retrying cannot fix a payload: fail the run at once.
		return helloOut{}, tasks.NonRetryable(errors.New(`payload needs a "name"`))
	}
	return helloOut{Greeting: "hello, " + in.Name}, nil
}

type checksumOut struct {
	Bytes  int    `json:"bytes"`
	SHA256 string `json:"sha256"`
}

func checksum(ctx context.Context, run *tasks.Run) (checksumOut, error) {
	data, err := run.Payload(ctx) // fetched through payloadUrl when stored in S3
	if err != nil {
		return checksumOut{}, err
	}
	sum := sha256.Sum256(data)
	return checksumOut{Bytes: len(data), SHA256: hex.EncodeToString(sum[:])}, nil
}

type sleepIn struct {
	MS int `json:"ms"`
}

type sleepOut struct {
	Slept   int `json:"slept"`
	Attempt int `json:"attempt"`
}

func sleep(ctx context.Context, in sleepIn) (sleepOut, error) {
	run, _ := tasks.FromContext(ctx)
	deadline := time.Now().Add(time.Duration(in.MS) * time.Millisecond)
	for time.Now().Before(deadline) {
		activity.RecordHeartbeat(ctx) // delivers a cancellation
		select {
		case <-ctx.Done():
			return sleepOut{}, ctx.Err()
		case <-time.After(min(time.Until(deadline), time.Second)):
		}
	}
	return sleepOut{Slept: in.MS, Attempt: run.Attempt}, nil
}

func main() {
	env := flag.String("env", "dev", "the environment whose runs to execute (keys create --env NAME)")
	queue := flag.String("queue", "", "the item queue (options.queue.name) to serve; empty for the default")
	address := flag.String("temporal", envOr("TEMPORAL_ADDRESS", "127.0.0.1:7233"), "Temporal frontend (env TEMPORAL_ADDRESS)")
	namespace := flag.String("namespace", envOr("TEMPORAL_NAMESPACE", "default"), "Temporal namespace (env TEMPORAL_NAMESPACE)")
	concurrency := flag.Int("concurrency", 50, "runs this worker executes at once")
	flag.Parse()

	// streambatch encrypts what it hands to Temporal: the worker needs the
	// same key set to read run envelopes and to write outputs.
	keys, err := codec.ParseKeys(os.Getenv(codec.EnvKeys))
	if err != nil {
		log.Fatalf("%s: %v", codec.EnvKeys, err)
	}
	opts := client.Options{HostPort: *address, Namespace: *namespace}
	codec.Apply(&opts, keys)
	c, err := client.Dial(opts)
	if err != nil {
		log.Fatalf("connect to Temporal at %s: %v", *address, err)
	}
	defer c.Close()
	w := tasks.NewWorker(c, *env, *queue, worker.Options{MaxConcurrentActivityExecutionSize: *concurrency})
	tasks.Register(w, "hello", hello)
	tasks.RegisterRun(w, "checksum", checksum)
	tasks.RegisterSliced(w, "sleep", sleep)
	fmt.Printf("executing runs of environment %q on task queue %s\n", *env, tasks.TaskQueue(*env, *queue))

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	if err := w.Run(stopChan(stop)); err != nil {
		log.Fatal(err)
	}
}

// stopChan adapts a signal channel to worker.Run's interrupt channel.
func stopChan(sig <-chan os.Signal) <-chan any {
	out := make(chan any)
	go func() { <-sig; close(out) }()
	return out
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}
