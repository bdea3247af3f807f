package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// progressBar renders push progress: a redrawn bar on a terminal, plain
// lines every few seconds otherwise.
type progressBar struct {
	mu       sync.Mutex
	w        io.Writer
	terminal bool
	total    int
	start    time.Time
	last     time.Time
	now      func() time.Time
	every    time.Duration
	// label, when set, counts finished runs instead of items sent, and
	// summary follows the counts ("180 completed, 20 failed").
	label   string
	summary string
}

func newProgressBar(w io.Writer, terminal bool, total int) *progressBar {
	every := 2 * time.Second
	if terminal {
		every = 100 * time.Millisecond
	}
	p := &progressBar{w: w, terminal: terminal, total: total, now: time.Now, every: every}
	p.start = p.now()
	return p
}

// update redraws when enough time has passed since the last draw.
func (p *progressBar) update(items int, bytes int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if now.Sub(p.last) < p.every && items < p.total {
		return
	}
	p.last = now
	line := p.render(items, bytes, now)
	if p.terminal {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
	} else {
		fmt.Fprintln(p.w, line)
	}
}

// done ends the bar's line.
func (p *progressBar) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.terminal {
		fmt.Fprintln(p.w)
	}
}

func (p *progressBar) render(items int, bytes int64, now time.Time) string {
	elapsed := now.Sub(p.start).Seconds()
	rate := 0.0
	if elapsed > 0 {
		rate = float64(items) / elapsed
	}
	frac := 1.0
	if p.total > 0 {
		frac = min(float64(items)/float64(p.total), 1)
	}
	eta := "--"
	if rate > 0 && items < p.total {
		eta = (time.Duration(float64(p.total-items) / rate * float64(time.Second))).Round(time.Second).String()
	} else if items >= p.total {
		eta = "0s"
	}
	stats := fmt.Sprintf("%3.0f%% %d/%d items  %.1f MiB  %.0f items/s  ETA %s", frac*100, items, p.total, float64(bytes)/(1<<20), rate, eta)
	if p.label != "" {
		stats = fmt.Sprintf("%3.0f%% %d/%d %s finished  %.0f/s  ETA %s  (%s)", frac*100, items, p.total, p.label, rate, eta, p.summary)
	}
	if !p.terminal {
		return stats
	}
	const width = 30
	filled := int(frac * width)
	bar := strings.Repeat("=", filled)
	if filled < width {
		bar += ">" + strings.Repeat(" ", width-filled-1)
	}
	return "[" + bar + "] " + stats
}
