package store

import (
	"fmt"
	"strings"
)

// Unnest is PostgreSQL's multi-row insert: the rows come as one array
// parameter per column, so a run of any length is one statement text (one
// plan, one round trip) where MultiRow needs a text per row count and
// several statements for an odd one. The rows go in in the arrays' order
// (WITH ORDINALITY … ORDER BY): writers that sort their rows lock them in
// the same order and queue instead of deadlocking.
type Unnest struct {
	// Into is the table and its column list: "t (a, b)".
	Into string
	// Arrays names each array's column in the run and its element type, in
	// parameter order: {"a", "text"}, {"b", "bigint"}.
	Arrays [][2]string
	// Select is the select list over the run's columns; empty for the
	// arrays' columns in order.
	Select string
	// Tail follows the rows: ON CONFLICT, RETURNING.
	Tail string
}

// Text is the statement.
func (u Unnest) Text() string {
	params := make([]string, len(u.Arrays))
	names := make([]string, len(u.Arrays))
	for i, a := range u.Arrays {
		names[i] = a[0]
		params[i] = fmt.Sprintf("$%d::%s[]", i+1, a[1])
	}
	sel := u.Select
	if sel == "" {
		sel = strings.Join(names, ", ")
	}
	return "INSERT INTO " + u.Into + " SELECT " + sel + " FROM unnest(" + strings.Join(params, ", ") +
		") WITH ORDINALITY AS run(" + strings.Join(names, ", ") + ", ord) ORDER BY ord" + u.Tail
}
