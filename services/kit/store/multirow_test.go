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

func TestUnnestText(t *testing.T) {
	u := store.Unnest{Into: "t (a, b)", Arrays: [][2]string{{"a", "text"}, {"b", "bigint"}}, Tail: " ON CONFLICT DO NOTHING"}
	want := "INSERT INTO t (a, b) SELECT a, b FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS run(a, b, ord) ORDER BY ord ON CONFLICT DO NOTHING"
	if got := u.Text(); got != want {
		t.Errorf("Text() = %q, want %q", got, want)
	}
	u = store.Unnest{Into: "t (a, b)", Arrays: [][2]string{{"a", "text"}}, Select: "a, '{}'", Tail: " RETURNING a"}
	want = "INSERT INTO t (a, b) SELECT a, '{}' FROM unnest($1::text[]) WITH ORDINALITY AS run(a, ord) ORDER BY ord RETURNING a"
	if got := u.Text(); got != want {
		t.Errorf("Text() = %q, want %q", got, want)
	}
}
