package outbox

// SetAfterPublish installs the hook that runs between publish and mark-sent.
func (r *Relay) SetAfterPublish(f func()) { r.afterPublish = f }
