package store

import (
	"context"
	"time"
)

// checkpointEvery is how often a SQLite database's WAL is checkpointed in
// the background.
const checkpointEvery = 500 * time.Millisecond

// checkpoints copies the WAL back into the database file from a goroutine
// of its own, PASSIVE (never waiting for a reader or the writer), until
// stop is closed. SQLite's automatic checkpoint runs inside the commit that
// crosses the threshold, and a group commit's leader holds every writer of
// the service while it copies: tens of milliseconds once in a while, the
// tail of the latency figures. Done here, the commit path no longer pays
// it; wal_autocheckpoint stays as a backstop at a higher threshold, should
// the background checkpoints fall behind.
func (db *DB) checkpoints(stop <-chan struct{}) {
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			// Not through the write lock: a checkpoint and the writer run side
			// by side in WAL mode. An error (busy, closing) is retried next tick.
			_, _ = db.DB.ExecContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`)
		}
	}
}
