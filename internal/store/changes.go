package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/store/internal/db"
)

// Run changes: what realtime subscriptions read. Every insert and update
// of a run stamps it with the id of its transaction (change_xid, migration
// 00019), so the runs that changed since a PostgreSQL snapshot S are
// exactly those whose change_xid is not visible in S, in whatever order
// concurrent writers commit. A subscriber's position is a ChangeOffset: the
// snapshot whose changes it has (Lower) and, inside a round that takes
// several pages, the round's own snapshot (Upper) and the last run given.

// ChangeOffset is where a subscriber stands. The zero value is the start:
// every run is a change.
type ChangeOffset struct {
	// Lower is the snapshot (pg_snapshot text) whose changes the
	// subscriber has; "" for none.
	Lower string
	// Upper, inside a round, is the round's snapshot (its first page's):
	// the round gives the changes visible in it. "" between rounds.
	Upper string
	// AfterXid, AfterBatch and AfterIndex are the last run a round's page
	// gave (AfterBatch only across batches), in (change_xid, batch id,
	// index) order.
	AfterXid   int64
	AfterBatch string
	AfterIndex int
}

// maxOffsetLen bounds an offset's text: a snapshot lists the transactions
// in progress when it was taken, a few per connection.
const maxOffsetLen = 16 << 10

// ErrBadOffset is an offset that ParseChangeOffset cannot read.
var ErrBadOffset = errors.New("store: malformed change offset")

// String encodes o: "-1" at the start, the snapshot between rounds, and
// "<lower or -1>_<upper>_<xid>_<index>[_<batch>]" inside a round.
func (o ChangeOffset) String() string {
	lower := o.Lower
	if lower == "" {
		lower = "-1"
	}
	if o.Upper == "" {
		return lower
	}
	s := lower + "_" + o.Upper + "_" + strconv.FormatInt(o.AfterXid, 10) + "_" + strconv.Itoa(o.AfterIndex)
	if o.AfterBatch != "" {
		s += "_" + o.AfterBatch
	}
	return s
}

// ParseChangeOffset reads what String wrote; ErrBadOffset otherwise.
func ParseChangeOffset(s string) (ChangeOffset, error) {
	bad := func() (ChangeOffset, error) { return ChangeOffset{}, ErrBadOffset }
	if s == "" || len(s) > maxOffsetLen {
		return bad()
	}
	parts := strings.SplitN(s, "_", 5)
	var o ChangeOffset
	if parts[0] != "-1" {
		if _, ok := snapshotXmin(parts[0]); !ok {
			return bad()
		}
		o.Lower = parts[0]
	}
	if len(parts) == 1 {
		return o, nil
	}
	if len(parts) < 4 {
		return bad()
	}
	if _, ok := snapshotXmin(parts[1]); !ok {
		return bad()
	}
	o.Upper = parts[1]
	var err error
	if o.AfterXid, err = strconv.ParseInt(parts[2], 10, 64); err != nil || o.AfterXid < 0 {
		return bad()
	}
	if o.AfterIndex, err = strconv.Atoi(parts[3]); err != nil || o.AfterIndex < -1 || o.AfterIndex > math.MaxInt32 {
		return bad()
	}
	if len(parts) == 5 {
		if !batch.ValidBatchID(parts[4]) {
			return bad()
		}
		o.AfterBatch = parts[4]
	}
	return o, nil
}

// snapshotXmin checks that s is a pg_snapshot's text (xmin:xmax:xip,…,
// with xmin ≤ each xip < xmax, ascending, xmin ≤ xmax, xmin > 0) and
// returns its xmin.
func snapshotXmin(s string) (int64, bool) {
	f := strings.SplitN(s, ":", 3)
	if len(f) != 3 {
		return 0, false
	}
	xmin, err1 := strconv.ParseInt(f[0], 10, 64)
	xmax, err2 := strconv.ParseInt(f[1], 10, 64)
	if err1 != nil || err2 != nil || xmin <= 0 || xmax < xmin {
		return 0, false
	}
	if f[2] == "" {
		return xmin, true
	}
	prev := xmin - 1
	for _, x := range strings.Split(f[2], ",") {
		v, err := strconv.ParseInt(x, 10, 64)
		if err != nil || v <= prev || v >= xmax {
			return 0, false
		}
		prev = v
	}
	return xmin, true
}

// start is the keyset position a page reads after: the round's cursor,
// or before the oldest transaction that Lower may not have seen.
func (o ChangeOffset) start() (xid int64, batchID string, index int) {
	if o.Upper != "" {
		return o.AfterXid, o.AfterBatch, o.AfterIndex
	}
	if xmin, ok := snapshotXmin(o.Lower); ok {
		return xmin - 1, "", math.MaxInt32
	}
	return -1, "", -1
}

// RunChange is a run as a change gives it.
type RunChange struct {
	Run
	BatchID string
}

// ChangeQuery selects the runs a subscription follows: one run of a batch
// (Index set), a batch's runs, or an environment's runs with any of Tags
// created at or after CreatedFrom.
type ChangeQuery struct {
	BatchID     string
	Index       *int
	EnvID       int64
	Tags        []string
	CreatedFrom time.Time
}

// RunChanges calls fn with the runs q selects that changed after at, one
// page of a round: at most limit, within maxBytes of stored payload,
// output, options and error message (the first always comes), in change
// order, as PostgreSQL sends them. next is the offset after the page;
// upToDate is true when the page ends the round (next then is the round's
// snapshot). fn returns false to stop early (next then is meaningless).
func (s *Store) RunChanges(ctx context.Context, q ChangeQuery, at ChangeOffset, limit, maxBytes int,
	fn func(*RunChange) bool) (next ChangeOffset, upToDate bool, err error) {
	var upper, lower *string
	if at.Upper != "" {
		upper = &at.Upper
	}
	if at.Lower != "" {
		lower = &at.Lower
	}
	xid, afterBatch, afterIndex := at.start()
	var rows pgx.Rows
	if q.Tags != nil {
		// Arguments in the order of db.TaggedRunChangesParams (sqlc's numbering).
		rows, err = s.pool.Query(ctx, db.TaggedRunChanges, q.EnvID, q.Tags, q.CreatedFrom,
			xid, afterBatch, int32(afterIndex), lower, int32(limit), int64(maxBytes), upper)
	} else {
		var index *int32
		if q.Index != nil {
			i := int32(*q.Index)
			index = &i
		}
		// Arguments in the order of db.BatchRunChangesParams (sqlc's numbering).
		rows, err = s.pool.Query(ctx, db.BatchRunChanges, q.BatchID, index, xid, int32(afterIndex),
			lower, int32(limit), int64(maxBytes), upper)
	}
	if err != nil {
		return ChangeOffset{}, false, fmt.Errorf("store: run changes: %w", err)
	}
	defer rows.Close()
	var (
		snap string
		last RunChange
		more bool
	)
	for rows.Next() {
		var (
			c        RunChange
			changeID *int64
			batchID  *string
			id       *string
			index    *int32
			task     *string
			status   *batch.RunStatus
			ptype    *string
			created  *time.Time
			attempts *int32
			moreRow  *bool
		)
		if err := rows.Scan(&snap, &changeID, &batchID, &id, &index, &task, &status, &ptype,
			&c.Payload, &c.Options, &c.ErrorCode, &c.ErrorMessage, &created, &c.Output,
			&c.OutputType, &attempts, &c.StartedAt, &c.CompletedAt, &c.DelayUntil, &moreRow); err != nil {
			return ChangeOffset{}, false, fmt.Errorf("store: run changes: %w", err)
		}
		if changeID == nil {
			continue // no run changed: the row only carries the snapshot
		}
		c.BatchID, c.ID, c.Index, c.Task, c.Status, c.PayloadType = *batchID, *id, int(*index), *task, *status, *ptype
		c.CreatedAt, c.Attempts, more = *created, int(*attempts), *moreRow
		last = c
		at.AfterXid = *changeID
		if !fn(&c) {
			return ChangeOffset{}, false, nil
		}
	}
	if err := rows.Err(); err != nil {
		return ChangeOffset{}, false, fmt.Errorf("store: run changes: %w", err)
	}
	if snap == "" {
		return ChangeOffset{}, false, fmt.Errorf("store: run changes: no snapshot")
	}
	if !more {
		return ChangeOffset{Lower: snap}, true, nil
	}
	next = ChangeOffset{Lower: at.Lower, Upper: snap, AfterXid: at.AfterXid, AfterIndex: last.Index}
	if q.Tags != nil {
		next.AfterBatch = last.BatchID
	}
	return next, false, nil
}
