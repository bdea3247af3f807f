package store

import (
	_ "embed"
	"fmt"
	"strings"
)

//go:embed queries.sql
var queriesSQL string

// queries maps a statement name to its SQL, parsed once from queries.sql.
type queries map[string]string

func parseQueries(src string) (queries, error) {
	q := queries{}
	var name string
	var body strings.Builder
	flush := func() {
		if name != "" {
			q[name] = strings.TrimSpace(body.String())
		}
		body.Reset()
	}
	for line := range strings.Lines(src) {
		if n, ok := strings.CutPrefix(strings.TrimSpace(line), "-- name:"); ok {
			flush()
			name = strings.TrimSpace(n)
			if _, dup := q[name]; dup {
				return nil, fmt.Errorf("queries.sql: statement %q defined twice", name)
			}
			continue
		}
		body.WriteString(line)
	}
	flush()
	return q, nil
}

// get returns the named statement; a typo is a programming error caught by
// the store tests.
func (q queries) get(name string) string {
	s, ok := q[name]
	if !ok {
		panic("store: no statement named " + name)
	}
	return s
}
