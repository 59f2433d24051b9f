package store_test

import (
	"context"
	"database/sql"
	"testing"

	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
)

// A connection the pool opened under load is kept when it is returned:
// reopening one forks a PostgreSQL backend and prepares every statement
// again, and database/sql's default keeps only two.
func TestPoolKeepsItsConnections(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		size := db.Stats().MaxOpenConnections
		if size < 4 {
			t.Fatalf("pool of %d connections; want at least 4 for concurrent requests and consumers", size)
		}
		for round := 0; round < 2; round++ {
			conns := make([]*sql.Conn, size)
			for i := range conns {
				c, err := db.Conn(ctx)
				if err != nil {
					t.Fatalf("round %d: connection %d: %v", round, i, err)
				}
				if err := c.PingContext(ctx); err != nil {
					t.Fatal(err)
				}
				conns[i] = c
			}
			for _, c := range conns {
				if err := c.Close(); err != nil {
					t.Fatal(err)
				}
			}
		}
		st := db.Stats()
		if st.MaxIdleClosed != 0 || st.Idle != size {
			t.Fatalf("after two rounds of %d concurrent connections: %d closed as surplus idle, %d idle; want 0 and %d",
				size, st.MaxIdleClosed, st.Idle, size)
		}
	})
}
