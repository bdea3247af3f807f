package store

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/streambatch/streambatch/internal/store/internal/db"
)

// pipeline runs the generated statements that calls makes in one round
// trip of tx, and returns what calls returns. calls runs twice: first
// against a db.DBTX that only queues each statement with its arguments (its
// results are zero), then, once the queue is sent, against one that hands
// out the results in the same order. calls must make the same statements in
// both passes: they may depend on its inputs, never on a result.
func pipeline[T any](ctx context.Context, tx pgx.Tx, calls func(*db.Queries) (T, error)) (T, error) {
	b := &pgx.Batch{}
	if _, err := calls(db.New(queuing{b})); err != nil {
		var zero T
		return zero, err
	}
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	out, err := calls(db.New(sent{br}))
	if err != nil {
		return out, err
	}
	return out, br.Close()
}

// errNotSent: a statement was called on a pipeline that had not sent it.
var errNotSent = errors.New("store: pipeline: statement not sent")

// queuing is the first pass of pipeline.
type queuing struct{ b *pgx.Batch }

func (q queuing) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	q.b.Queue(sql, args...)
	return pgconn.CommandTag{}, nil
}

func (q queuing) Query(_ context.Context, sql string, args ...any) (pgx.Rows, error) {
	q.b.Queue(sql, args...)
	return noRows{}, nil
}

func (q queuing) QueryRow(_ context.Context, sql string, args ...any) pgx.Row {
	q.b.Queue(sql, args...)
	return noRows{}
}

func (queuing) CopyFrom(context.Context, pgx.Identifier, []string, pgx.CopyFromSource) (int64, error) {
	return 0, errNotSent // COPY cannot be pipelined
}

// sent is the second pass of pipeline: each call takes the next result.
type sent struct{ br pgx.BatchResults }

func (s sent) Exec(context.Context, string, ...any) (pgconn.CommandTag, error) { return s.br.Exec() }
func (s sent) Query(context.Context, string, ...any) (pgx.Rows, error)         { return s.br.Query() }
func (s sent) QueryRow(context.Context, string, ...any) pgx.Row                { return s.br.QueryRow() }

func (sent) CopyFrom(context.Context, pgx.Identifier, []string, pgx.CopyFromSource) (int64, error) {
	return 0, errNotSent
}

// noRows is the empty result the queuing pass hands out: a row that scans
// nothing, and rows without any.
type noRows struct{}

func (noRows) Scan(...any) error                            { return nil }
func (noRows) Close()                                       {}
func (noRows) Err() error                                   { return nil }
func (noRows) CommandTag() pgconn.CommandTag                { return pgconn.CommandTag{} }
func (noRows) FieldDescriptions() []pgconn.FieldDescription { return nil }
func (noRows) Next() bool                                   { return false }
func (noRows) Values() ([]any, error)                       { return nil, nil }
func (noRows) RawValues() [][]byte                          { return nil }
func (noRows) Conn() *pgx.Conn                              { return nil }
func (noRows) TypeMap() *pgtype.Map                         { return nil }
