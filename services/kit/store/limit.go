package store

import "strconv"

// Limit is a LIMIT clause for n rows written into the statement's text, for
// a page size the code fixes (a relay's batch, a worker's scan). A bound
// LIMIT (LIMIT ?) costs SQLite a re-prepare at every execution: its
// planner reads the bound value, which marks the statement to expire
// whenever that parameter is bound again, and database/sql binds every
// parameter at every execution (BenchmarkBoundLimit). A limit a caller
// chooses per request stays bound: one statement text per value would
// fill the statement cache.
func Limit(n int) string { return " LIMIT " + strconv.Itoa(n) }
