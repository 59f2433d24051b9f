package statistics

import "xinfang.io/services/kit/store"

// sqliteParams bounds the parameters of one SQLite statement. The pure-Go
// SQLite driver matches every parameter to its argument by a linear search,
// so binding costs grow with the square of the count: past about 64
// parameters, several smaller statements are cheaper than one large one.
// PostgreSQL has no such cost; there fewer round trips win.
const sqliteParams = 64

// shapes are the row counts of multi-row statements with perRow
// parameters a row: a run of rows is written in chunks of these sizes,
// largest first, so that a few statement texts (prepared once, cached)
// serve runs of every length.
func shapes(d store.Dialect, perRow int) []int {
	if d == store.Postgres {
		// Every power of two: a run of n rows takes one statement per bit
		// of n.
		return []int{256, 128, 64, 32, 16, 8, 4, 2, 1}
	}
	var out []int
	for n := 1; n*perRow <= sqliteParams || n == 1; n *= 2 {
		out = append([]int{n}, out...)
	}
	return out
}

// chunks splits n rows into chunks of the shapes, largest first.
func chunks(n int, shapes []int) []int {
	var out []int
	for _, s := range shapes {
		for n >= s {
			out = append(out, s)
			n -= s
		}
	}
	return out
}
