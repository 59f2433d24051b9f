package outbox

import "time"

// SetAfterPublish installs the hook that runs between publish and mark-sent.
func (r *Relay) SetAfterPublish(f func()) { r.afterPublish = f }

// SetNow sets the outbox's clock (enqueue, mark-sent and purge times).
func (o *Outbox) SetNow(now func() time.Time) { o.now = now }
