package intake

import (
	"sync"
	"time"

	"xinfang.io/county"
)

// ForceCaseIDs makes svc hand out ids, in order, before it makes its own:
// tests use it to make new case ids clash with stored ones.
func ForceCaseIDs(svc Service, ids ...string) {
	s := svc.(*service)
	var mu sync.Mutex
	s.caseIDs = func(cfg *county.Config, now time.Time) string {
		mu.Lock()
		defer mu.Unlock()
		if len(ids) == 0 {
			return newCaseID(cfg, now)
		}
		id := ids[0]
		ids = ids[1:]
		return id
	}
}
