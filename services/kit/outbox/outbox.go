// Package outbox implements the transactional outbox: a service writes its
// domain change and the events it implies in one database transaction
// (Enqueue), and a Relay publishes committed rows to Kafka and marks them
// sent. A crash between commit and publish loses nothing (the row is still
// unsent after restart); a crash between publish and mark republishes, which
// consumers' inboxes absorb.
package outbox

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/kafkatransport"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/tracing"
)

// Migrations create the outbox table. Apply with db.Migrate(ctx, "outbox", …).
var Migrations = []store.Migration{{
	Version: 1,
	Name:    "outbox",
	SQL: `CREATE TABLE outbox (
	id         ` + store.Serial + `,
	event_id   TEXT NOT NULL UNIQUE,
	topic      TEXT NOT NULL,
	msg_key    ` + store.Blob + ` NOT NULL,
	payload    ` + store.Blob + ` NOT NULL,
	headers    TEXT NOT NULL,
	created_at TEXT NOT NULL,
	sent_at    TEXT
);
CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL;
CREATE INDEX outbox_sent_at ON outbox (sent_at) WHERE sent_at IS NOT NULL;`,
}, {
	// SQLite commits one writer at a time, so outbox ids become visible in
	// order and "sent" is a position: everything up to outbox_relay's
	// sent_upto. Marking a run sent is one small update instead of a
	// rewrite of each row and two index changes, and an enqueue touches
	// one index fewer. PostgreSQL keeps sent_at: its concurrent
	// transactions can commit a lower id after a higher one was published.
	Version: 2,
	Name:    "relay position (SQLite)",
	SQL: `CREATE TABLE outbox_relay (
	id        INTEGER PRIMARY KEY CHECK (id = 1),
	sent_upto INTEGER NOT NULL
);
INSERT INTO outbox_relay (id, sent_upto) VALUES (1, COALESCE(
	(SELECT MIN(id) - 1 FROM outbox WHERE sent_at IS NULL),
	(SELECT MAX(id) FROM outbox),
	0));
DROP INDEX outbox_unsent;`,
	Postgres: `SELECT 1`,
}}

// Outbox stores events for a county's topics.
type Outbox struct {
	db     *store.DB
	county string
	wake   chan struct{}
	now    func() time.Time
}

// New returns the outbox of db for a county.
func New(db *store.DB, county string) *Outbox {
	return &Outbox{db: db, county: county, wake: make(chan struct{}, 1), now: time.Now}
}

// NewEventID returns a new time-ordered event id (UUIDv7).
func NewEventID() string { return uuid.Must(uuid.NewV7()).String() }

// Enqueue adds events to the outbox inside tx. It fills what the producer
// owns (event id, county, recorded time, schema version, type), captures the
// trace context of ctx so the relay's publish continues the caller's trace,
// and wakes the relay once tx commits.
func (o *Outbox) Enqueue(ctx context.Context, tx *store.Tx, envs ...*eventsv1.Envelope) error {
	for _, env := range envs {
		if env.EventId == "" {
			env.EventId = NewEventID()
		}
		if env.County == "" {
			env.County = o.county
		}
		if env.County != o.county {
			return fmt.Errorf("outbox enqueue %s: event for county %q in county %q's outbox", env.EventId, env.County, o.county)
		}
		if env.RecordedAt == nil {
			env.RecordedAt = timestamppb.New(o.now())
		}
		if env.OccurredAt == nil {
			env.OccurredAt = env.RecordedAt
		}
		if env.SchemaVersion == 0 {
			env.SchemaVersion = eventsv1.SchemaVersion
		}
		env.Type = env.TypeName()
		if env.Type == "" {
			return fmt.Errorf("outbox enqueue %s: event has no payload", env.EventId)
		}
		topic, err := eventsv1.Topic(o.county, eventsv1.StreamOf(env.Type))
		if err != nil {
			return fmt.Errorf("outbox enqueue %s: %w", env.EventId, err)
		}
		msg, err := kafkatransport.EncodeEnvelope(topic, env)
		if err != nil {
			return fmt.Errorf("outbox enqueue: %w", err)
		}
		tracing.Inject(ctx, &msg.Headers)
		headers, err := encodeHeaders(msg.Headers)
		if err != nil {
			return fmt.Errorf("outbox enqueue %s: headers: %w", env.EventId, err)
		}
		// Deferred: on PostgreSQL the row goes out with the COMMIT (or the
		// transaction's next statement), not in a round trip of its own.
		if err := tx.ExecDeferred(ctx,
			`INSERT INTO outbox (event_id, topic, msg_key, payload, headers, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			env.EventId, topic, msg.Key, msg.Value, headers, store.FormatTime(o.now())); err != nil {
			return fmt.Errorf("outbox enqueue %s: %w", env.EventId, err)
		}
	}
	tx.AfterCommit(o.Notify)
	return nil
}

// Notify wakes the relay; it never blocks.
func (o *Outbox) Notify() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}
