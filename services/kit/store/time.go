package store

import "time"

// TimeLayout is how timestamps are stored as text: sortable, UTC, fixed width.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// FormatTime renders t for storage.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// ParseTime reads a stored timestamp.
func ParseTime(s string) (time.Time, error) { return time.Parse(TimeLayout, s) }

func nowText() string { return FormatTime(time.Now()) }
