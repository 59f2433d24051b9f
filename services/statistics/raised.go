package statistics

import "sync"

// raisedAlerts remembers, across batches, the dedup keys of alerts known
// to be stored. An alert is stored once per key and never deleted, so a
// rule whose alert is stored can raise nothing more, and its check can be
// skipped: a spike crossed in the morning holds for every later
// registration of its day — a surge, when statistics is busiest — and
// checking it again cost each of them two counter reads and an INSERT …
// DO NOTHING, round trips on PostgreSQL. Only committed batches' keys are
// added. It holds two days of keys; one forgotten costs only its check.
type raisedAlerts struct {
	mu         sync.Mutex
	day        string
	keys, prev map[string]bool
}

func (a *raisedAlerts) has(key string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.keys[key] || a.prev[key]
}

// add records the keys of a committed batch, made on day (today).
func (a *raisedAlerts) add(day string, keys map[string]bool) {
	if len(keys) == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if day != a.day {
		a.day, a.prev, a.keys = day, a.keys, nil
	}
	if a.keys == nil {
		a.keys = make(map[string]bool, len(keys))
	}
	for k := range keys {
		a.keys[k] = true
	}
}
