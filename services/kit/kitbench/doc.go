// Package kitbench holds the kit's benchmarks: the raw kafka-go
// produce→consume baseline through a Kafka-protocol broker, and the same path
// through the kit (outbox + relay + publish + consumer + inbox + apply on
// SQLite). make bench runs both in one go test invocation against the dev
// broker and docs/benchmarks.md records method and numbers.
package kitbench
