package store_test

import (
	"testing"

	"xinfang.io/services/kit/store"
)

func TestMultiRowText(t *testing.T) {
	s := &store.MultiRow{Head: "INSERT INTO t (a, b) VALUES ", Row: "(?, ?)", Tail: " ON CONFLICT DO NOTHING"}
	for _, c := range []struct {
		n    int
		want string
	}{
		{1, "INSERT INTO t (a, b) VALUES (?, ?) ON CONFLICT DO NOTHING"},
		{3, "INSERT INTO t (a, b) VALUES (?, ?), (?, ?), (?, ?) ON CONFLICT DO NOTHING"},
		{1, "INSERT INTO t (a, b) VALUES (?, ?) ON CONFLICT DO NOTHING"}, // from the cache
	} {
		if got := s.Text(c.n); got != c.want {
			t.Errorf("Text(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}
