package metrics

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A collector whose query fails leaves its series out: the scrape answers
// 200 with the other series, counts the error and logs its cause.
func TestHandlerServesTheRestWhenACollectorFails(t *testing.T) {
	t.Parallel()
	m := New()
	var logged strings.Builder
	m.SetLogger(slog.New(slog.NewTextHandler(&logged, nil)))
	m.Register(NewBatchStates(func(context.Context) (map[string]int, error) { return nil, errors.New("database down") }))
	m.HTTPRequest("/api/v3/batches", "202", 0)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	for scrape := 1; scrape <= 2; scrape++ {
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		text := string(body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("scrape %d: %d %s", scrape, resp.StatusCode, text)
		}
		if !strings.Contains(text, `streambatch_http_requests_total{code="202",route="/api/v3/batches"} 1`) {
			t.Fatalf("scrape %d lacks the other series:\n%s", scrape, text)
		}
		if strings.Contains(text, "streambatch_batches{") {
			t.Fatalf("scrape %d has the failing collector's series", scrape)
		}
		if want := `promhttp_metric_handler_errors_total{cause="gathering"} ` + string(rune('0'+scrape-1)); !strings.Contains(text, want) {
			t.Fatalf("scrape %d: no %q in\n%s", scrape, want, text)
		}
	}
	if !strings.Contains(logged.String(), "database down") {
		t.Fatalf("the cause was not logged: %q", logged.String())
	}
}
