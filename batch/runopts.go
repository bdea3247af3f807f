package batch

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// RunOptions are the item options that shape a run's execution, parsed from
// Item.Options (the trigger.dev item options reduced to known keys).
type RunOptions struct {
	// Delay is how long after the batch's creation the run may start, or 0.
	Delay time.Duration
	// DelayUntil is an absolute start time given as a date, or zero.
	DelayUntil time.Time
	// TTL is how long the run may wait to start before it expires, or 0.
	TTL time.Duration
	// MaxAttempts is the attempt limit, or 0 for the default.
	MaxAttempts int
	// MaxDuration bounds one attempt, or 0 for the default.
	MaxDuration time.Duration
	// Priority is trigger.dev's priority in seconds (higher runs sooner).
	Priority float64
	// Queue is options.queue.name, or "".
	Queue string
	// Metadata, Tags and IdempotencyKey are passed to the task worker.
	Metadata       json.RawMessage
	Tags           []string
	IdempotencyKey string
}

// rawRunOptions is the JSON shape of the options RunOptions reads.
type rawRunOptions struct {
	Delay          json.RawMessage        `json:"delay"`
	TTL            json.RawMessage        `json:"ttl"`
	MaxAttempts    *int                   `json:"maxAttempts"`
	MaxDuration    *float64               `json:"maxDuration"`
	Priority       *float64               `json:"priority"`
	Queue          *struct{ Name string } `json:"queue"`
	Metadata       json.RawMessage        `json:"metadata"`
	Tags           json.RawMessage        `json:"tags"`
	IdempotencyKey string                 `json:"idempotencyKey"`
}

// ParseRunOptions reads the execution options of an item's options object
// (nil or empty gives the zero RunOptions). Ingest validated their types;
// ParseRunOptions also checks their values and names the option it refuses.
func ParseRunOptions(raw json.RawMessage) (RunOptions, error) {
	var o RunOptions
	if len(raw) == 0 {
		return o, nil
	}
	var r rawRunOptions
	if err := json.Unmarshal(raw, &r); err != nil {
		return o, fmt.Errorf("options: %w", err)
	}
	if len(r.Delay) > 0 && string(r.Delay) != "null" {
		var s string
		if err := json.Unmarshal(r.Delay, &s); err != nil {
			return o, errors.New("options.delay must be a duration such as \"30s\" or \"1h\", or a date")
		}
		if d, err := ParseTriggerDuration(s); err == nil {
			o.Delay = d
		} else if t, terr := time.Parse(time.RFC3339Nano, s); terr == nil {
			o.DelayUntil = t
		} else {
			return o, fmt.Errorf("options.delay %q is neither a duration such as \"30s\" or \"1h\" nor an RFC 3339 date", s)
		}
	}
	if len(r.TTL) > 0 && string(r.TTL) != "null" {
		var s string
		var n float64
		switch {
		case json.Unmarshal(r.TTL, &n) == nil:
			o.TTL = time.Duration(n) * time.Second
		case json.Unmarshal(r.TTL, &s) == nil:
			d, err := ParseTriggerDuration(s)
			if err != nil {
				return o, fmt.Errorf("options.ttl %q is not a duration such as \"10m\" or \"1h\"", s)
			}
			o.TTL = d
		default:
			return o, errors.New("options.ttl must be a duration string or a number of seconds")
		}
	}
	if r.MaxAttempts != nil {
		if *r.MaxAttempts < 0 || *r.MaxAttempts > MaxRunAttempts {
			return o, fmt.Errorf("options.maxAttempts must be between 1 and %d, got %d", MaxRunAttempts, *r.MaxAttempts)
		}
		o.MaxAttempts = *r.MaxAttempts
	}
	if r.MaxDuration != nil {
		if *r.MaxDuration < 0 || *r.MaxDuration > float64(MaxRunDuration/time.Second) || math.IsNaN(*r.MaxDuration) {
			return o, fmt.Errorf("options.maxDuration must be between 1 and %d seconds, got %g", int(MaxRunDuration/time.Second), *r.MaxDuration)
		}
		o.MaxDuration = time.Duration(*r.MaxDuration * float64(time.Second))
	}
	if r.Priority != nil {
		o.Priority = *r.Priority
	}
	if r.Queue != nil {
		o.Queue = r.Queue.Name
	}
	if len(r.Metadata) > 0 && string(r.Metadata) != "null" {
		o.Metadata = r.Metadata
	}
	if len(r.Tags) > 0 {
		var one string
		if json.Unmarshal(r.Tags, &one) == nil {
			o.Tags = []string{one}
		} else {
			_ = json.Unmarshal(r.Tags, &o.Tags)
		}
	}
	o.IdempotencyKey = r.IdempotencyKey
	return o, nil
}

// ParseTriggerDuration parses trigger.dev's duration strings: one or more
// number-unit pairs with units w, d, h (hr), m (min), s (sec) or ms, such as
// "30s", "1h30m" or "2d".
func ParseTriggerDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("empty duration")
	}
	var total time.Duration
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == i || j-i > 9 {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		n, _ := strconv.Atoi(s[i:j])
		k := j
		for k < len(s) && (s[k] < '0' || s[k] > '9') {
			k++
		}
		var unit time.Duration
		switch s[j:k] {
		case "w":
			unit = 7 * 24 * time.Hour
		case "d":
			unit = 24 * time.Hour
		case "h", "hr", "hrs":
			unit = time.Hour
		case "m", "min", "mins":
			unit = time.Minute
		case "s", "sec", "secs":
			unit = time.Second
		case "ms":
			unit = time.Millisecond
		default:
			return 0, fmt.Errorf("bad duration unit in %q", s)
		}
		total += time.Duration(n) * unit
		if total > 10*365*24*time.Hour {
			return 0, fmt.Errorf("duration %q is too long", s)
		}
		i = k
	}
	return total, nil
}

// ValidQueueName reports whether name may follow "runs.<env>." in a task
// queue: 1–128 letters, digits and . _ - / : characters.
func ValidQueueName(name string) bool {
	if name == "" || len(name) > 128 {
		return false
	}
	return strings.IndexFunc(name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-/:", r))
	}) < 0
}
