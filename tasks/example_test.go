package tasks_test

import (
	"context"
	"log"
	"os"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/streambatch/streambatch/codec"
	"github.com/streambatch/streambatch/tasks"
)

// A task worker for environment "prod": the runs of task "send-email"
// arrive as activities on task queue runs.prod; each payload is decoded
// into an email and the function's result becomes the run's output.
func Example() {
	// The key set streambatch encrypts payloads with (STREAMBATCH_PAYLOAD_KEYS).
	keys, err := codec.ParseKeys(os.Getenv(codec.EnvKeys))
	if err != nil {
		log.Fatal(err)
	}
	opts := client.Options{HostPort: "127.0.0.1:7233"}
	codec.Apply(&opts, keys)
	c, err := client.Dial(opts)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	type email struct {
		To      string `json:"to"`
		Subject string `json:"subject"`
	}
	w := tasks.NewWorker(c, "prod", "", worker.Options{MaxConcurrentActivityExecutionSize: 100})
	tasks.Register(w, "send-email", func(ctx context.Context, e email) (map[string]string, error) {
		run, _ := tasks.FromContext(ctx)
		log.Printf("run %s (attempt %d): mail to %s", run.ID, run.Attempt, e.To)
		return map[string]string{"status": "sent"}, nil
	})
	if err := w.Run(worker.InterruptCh()); err != nil {
		log.Fatal(err)
	}
}
