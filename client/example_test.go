package client_test

import (
	"context"
	"fmt"
	"log"

	"github.com/streambatch/streambatch/client"
	"github.com/streambatch/streambatch/wire"
)

// Trigger a batch: create it and stream its items lazily.
func ExampleClient_TriggerBatch() {
	srv := newFakeServer(nil, 3) // stands in for a streambatch server
	defer srv.srv.Close()
	c, err := client.New(srv.srv.URL, "key")
	if err != nil {
		log.Fatal(err)
	}
	items := client.Items([]client.Item{
		{Index: 0, Task: "email", Payload: client.StringPayload(`{"to":"a@example.com"}`)},
		{Index: 1, Task: "email", Payload: client.StringPayload(`{"to":"b@example.com"}`)},
		{Index: 2, Task: "email"},
	})
	res, err := c.TriggerBatch(context.Background(), wire.CreateBatchRequest{RunCount: 3}, items)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Batch.ID, res.Stream.Sealed, res.Stream.ItemsAccepted)
	// Output: batch_1 true 3
}

// A batch that is still missing items after the attempts ends in a
// NotSealedError with the counts.
func ExampleNotSealedError() {
	srv := newFakeServer(nil, 5)
	defer srv.srv.Close()
	c, _ := client.New(srv.srv.URL, "key", client.WithRetry(client.RetryPolicy{MaxAttempts: 1}))
	_, err := c.StreamItems(context.Background(), "batch_1", client.Items([]client.Item{{Index: 0, Task: "t"}}))
	fmt.Println(err)
	// Output: streambatch: batch batch_1 not sealed: 1 of 5 items accepted
}
