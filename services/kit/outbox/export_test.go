package outbox

import (
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// SetAfterPublish installs the hook that runs between publish and mark-sent.
func (r *Relay) SetAfterPublish(f func()) { r.afterPublish = f }

// SetNow sets the outbox's clock (enqueue, mark-sent and purge times).
func (o *Outbox) SetNow(now func() time.Time) { o.now = now }

// NextPoll exposes the relay's fallback interval after a pass.
func (r *Relay) NextPoll(last time.Duration, busy bool) time.Duration { return r.nextPoll(last, busy) }

// Passes is how many passes the relay has made over the outbox.
func (r *Relay) Passes() float64 { return testutil.ToFloat64(r.passes) }
