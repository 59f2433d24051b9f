// Package kafkatransport is the Kafka transport of the service kit, the
// counterpart of go-kit's transport/http: a Publisher that writes with safe
// settings (acks=all, hash partitioning by case id, retries of what a retry
// can fix), at once — one produce request per partition leader, no linger
// (produce.go) — and carries trace context in headers, a Subscriber that decodes a message and
// calls a go-kit endpoint, and a Consumer that runs a consumer group with
// FetchMessage + CommitMessages, bounded retries with backoff, and a
// dead-letter topic so a poison message never blocks its partition.
//
// BatchConsumer and BatchSubscriber (batch.go) hand a fetched run of
// messages to one call, for consumers that apply many events in one
// database transaction; a run that fails goes through the one-message path
// message by message, so dead letters and retries work as with Consumer.
package kafkatransport
