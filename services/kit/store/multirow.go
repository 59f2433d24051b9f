package store

import (
	"strings"
	"sync"
)

// MultiRow builds and caches the texts of one multi-row statement: Head,
// then n copies of Row separated by commas, then Tail. A service writing a
// run of rows in a few statements (prepared once per text, cached) uses it
// instead of one statement a row.
type MultiRow struct {
	Head, Row, Tail string

	mu    sync.Mutex
	texts map[int]string
}

// Text is the statement for n rows (n ≥ 1).
func (s *MultiRow) Text(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.texts[n]; ok {
		return t
	}
	if s.texts == nil {
		s.texts = map[int]string{}
	}
	t := s.Head + strings.TrimSuffix(strings.Repeat(s.Row+", ", n), ", ") + s.Tail
	s.texts[n] = t
	return t
}
