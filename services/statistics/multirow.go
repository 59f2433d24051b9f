package statistics

// sqliteParams bounds the parameters of one SQLite statement. The pure-Go
// SQLite driver matches every parameter to its argument by a linear search,
// so binding costs grow with the square of the count: past about 64
// parameters, several smaller statements are cheaper than one large one.
// PostgreSQL has no such cost: there a run's rows go in as arrays, one
// statement (store.Unnest).
const sqliteParams = 64

// shapes are the row counts of SQLite's multi-row statements with perRow
// parameters a row: a run of rows is written in chunks of these sizes,
// largest first, so that a few statement texts (prepared once, cached)
// serve runs of every length.
func shapes(perRow int) []int {
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
