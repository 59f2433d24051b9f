// Package store opens a service's database — embedded SQLite (pure Go, the
// default) or PostgreSQL (pgx, for clusters) — and applies schema migrations
// with one mechanism for both. SQL is written once with "?" placeholders and
// rebound for PostgreSQL; where the dialects differ a migration carries one
// statement per dialect.
package store
