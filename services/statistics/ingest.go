package statistics

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/google/uuid"

	"xinfang.io/county"
	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/kafkatransport"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/tracing"
)

// Event is one consumed event with the context it was delivered in (its
// consumer span), under which its alerts are raised and logged.
type Event struct {
	Ctx context.Context
	Env *eventsv1.Envelope
}

// Apply is ApplyBatch of one event.
func (s *service) Apply(ctx context.Context, env *eventsv1.Envelope) error {
	tracing.SetCaseID(ctx, env.GetCaseId())
	return s.ApplyBatch(ctx, []Event{{Ctx: ctx, Env: env}})
}

// ApplyBatch applies a run of events in one transaction: each touched
// case's state is read once and written once, and the counter deltas of all
// the events are added up in memory and written as one row change per
// touched counter row. It is all or nothing: an event statistics refuses
// fails the whole batch (the consumer then applies the events one by one,
// so that only the refused one is dead-lettered).
//
// Idempotency: every case row keeps the ids of the events applied to it
// (caseState.Seen), written in the same transaction as the state they
// produced. An event whose id its case has already seen — redelivered,
// published twice, or repeated within the batch — changes nothing.
func (s *service) ApplyBatch(ctx context.Context, events []Event) error {
	if len(events) == 0 {
		return nil
	}
	cfg := s.county()
	for _, ev := range events {
		env := ev.Env
		switch {
		case env.GetCaseId() == "":
			return kafkatransport.Permanent(fmt.Errorf("apply %s %s: no case id", env.GetType(), env.GetEventId()))
		case env.GetEventId() == "":
			return kafkatransport.Permanent(fmt.Errorf("apply %s to %s: no event id", env.GetType(), env.GetCaseId()))
		case env.GetCounty() != "" && env.GetCounty() != cfg.ID:
			return kafkatransport.Permanent(fmt.Errorf("apply %s %s: event of county %q in county %q", env.GetType(), env.GetEventId(), env.GetCounty(), cfg.ID))
		}
	}
	var b *ingest
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		b = newIngest(s, tx, cfg)
		return b.run(ctx, events)
	})
	what := fmt.Sprintf("apply a batch of %d events", len(events))
	if len(events) == 1 {
		what = "apply"
	}
	if errors.Is(err, errRefused) {
		return kafkatransport.Permanent(fmt.Errorf("%s: %w", what, err))
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	s.applied.Add(int64(b.applied))
	s.duplicates.Add(int64(b.duplicates))
	s.raised.add(s.today().String(), b.raised)
	return nil
}

// seenKey is the form an event id takes in caseState.Seen: a UUID (the
// event ids every producer makes) as its 16 bytes in base64url, 22
// characters; any other id as "~" and its base64url. Neither contains the
// separator "|", and the two forms cannot collide.
func seenKey(eventID string) string {
	if len(eventID) == 36 {
		if u, err := uuid.Parse(eventID); err == nil && u.String() == eventID {
			return base64.RawURLEncoding.EncodeToString(u[:])
		}
	}
	return "~" + base64.RawURLEncoding.EncodeToString([]byte(eventID))
}

func (c *caseState) seen(key string) bool {
	for rest := c.Seen; len(rest) > 0; {
		i := strings.IndexByte(rest[1:], '|')
		if i < 0 {
			return false
		}
		if rest[1:1+i] == key {
			return true
		}
		rest = rest[1+i:]
	}
	return false
}

func (c *caseState) markSeen(key string) {
	if c.Seen == "" {
		c.Seen = "|"
	}
	c.Seen += key + "|"
}

// caseEntry is a case in a batch: its state as loaded and as changed, and
// what it contributes to the counters as last added to the batch's
// pending deltas (cur).
type caseEntry struct {
	c             *caseState
	loadedOverdue string
	cur           contributions
	known         bool // cur computed
	unsynced      bool // changed since cur was computed
	changed       bool // changed in this batch: to be saved
}

// ingest is one batch's work inside its transaction. Counter deltas pile
// up in memory (pending) and are written once at the end; the warning
// rules of live events read the committed counters plus pending.
type ingest struct {
	s     *service
	tx    *store.Tx
	cfg   *county.Config
	cases map[string]*caseEntry
	// pending are the counter deltas of the batch so far, by day row: the
	// event counts (督办) at once, the cases' contribution changes when
	// synced (sync).
	pending  map[rowKey]*vec
	unsynced []string
	matters  []matterRow
	// mattersOf indexes matters by petitioner key, for the rules.
	mattersOf map[string][]matterRow
	// overAdd / overDel: cases of the batch that became / stopped being
	// overdue for a department, relative to the database.
	overAdd, overDel map[string]map[string]bool
	applied          int
	// duplicates counts events skipped as already applied.
	duplicates int
	// committed memoizes the counters as the batch found them: the rules
	// of every registration read the same few (category, township,
	// respondent of the day and the days before), and nothing writes them
	// before flush.
	committed map[committedKey]int64
	// raised are the alerts' dedup keys this batch stored or found stored:
	// a spike, once crossed, is true for every later registration of the
	// day. Once committed they join the service's (raisedAlerts).
	raised map[string]bool
}

// stored reports whether the alert of a dedup key is stored already, by
// this batch or an earlier one.
func (b *ingest) stored(key string) bool { return b.raised[key] || b.s.raised.has(key) }

// committedKey is one committed counter read: a metric of a dimension key
// summed over the days [from, to].
type committedKey struct {
	m                  metric
	dim, key, from, to string
}

func newIngest(s *service, tx *store.Tx, cfg *county.Config) *ingest {
	return &ingest{s: s, tx: tx, cfg: cfg, cases: map[string]*caseEntry{}, pending: map[rowKey]*vec{},
		mattersOf: map[string][]matterRow{}, overAdd: map[string]map[string]bool{}, overDel: map[string]map[string]bool{},
		committed: map[committedKey]int64{}, raised: map[string]bool{}}
}

func (b *ingest) run(ctx context.Context, events []Event) error {
	if b.tx.Dialect() == store.SQLite && len(events) > 1 {
		// A batch dirties tens of megabytes of pages. With SQLite's default
		// 2 MB page cache they spill to the WAL mid-transaction (many pages
		// written twice) and are read back. A per-connection setting,
		// cheap to repeat.
		if _, err := b.tx.Exec(ctx, `PRAGMA cache_size = -16384`); err != nil {
			return fmt.Errorf("tune the connection: %w", err)
		}
	}
	ids := make([]string, 0, len(events)+8)
	for _, ev := range events {
		ids = append(ids, ev.Env.GetCaseId())
		if o := ev.Env.GetPetitionRegistered().GetRepeatOf(); o != "" {
			ids = append(ids, o)
		}
	}
	loaded, err := loadCases(ctx, b.tx, ids)
	if err != nil {
		return err
	}
	for id, c := range loaded {
		b.cases[id] = &caseEntry{c: c, loadedOverdue: c.OverdueDept}
	}
	legacy, err := b.s.legacyApplied(ctx, b.tx, events)
	if err != nil {
		return err
	}
	for _, ev := range events {
		if err := b.apply(ctx, ev, legacy); err != nil {
			return err
		}
	}
	return b.flush(ctx)
}

func (b *ingest) entry(id string) *caseEntry {
	e := b.cases[id]
	if e == nil {
		e = &caseEntry{c: &caseState{}}
		b.cases[id] = e
	}
	return e
}

// touch is called before a case changes: its contributions as they were
// are known from then on, and it is marked for saving and syncing.
func (b *ingest) touch(id string, e *caseEntry) {
	if !e.known {
		e.cur, e.known = e.c.contributions(), true
	}
	if !e.unsynced {
		e.unsynced = true
		b.unsynced = append(b.unsynced, id)
	}
	e.changed = true
}

// sync moves the contribution changes of the cases changed since the last
// sync into pending.
func (b *ingest) sync() {
	for _, id := range b.unsynced {
		e := b.cases[id]
		for _, x := range e.cur {
			b.at(x.row)[x.m] -= x.v
		}
		after := e.c.appendContributions(e.cur[:0])
		for _, x := range after {
			b.at(x.row)[x.m] += x.v
		}
		e.cur, e.unsynced = after, false
	}
	b.unsynced = b.unsynced[:0]
}

func (b *ingest) at(r rowKey) *vec {
	v := b.pending[r]
	if v == nil {
		v = &vec{}
		b.pending[r] = v
	}
	return v
}

// apply folds one event into the batch: the case state (and the case a
// registration repeats), event-count deltas, the petitioner's matter, and
// for a live event the warning rules.
func (b *ingest) apply(ctx context.Context, ev Event, legacy map[string]bool) error {
	env := ev.Env
	caseID := env.GetCaseId()
	e := b.entry(caseID)
	key := seenKey(env.GetEventId())
	if e.c.seen(key) || legacy[env.GetEventId()] {
		b.duplicates++
		return nil
	}
	b.touch(caseID, e)
	overdueBefore := e.c.OverdueDept
	if err := e.c.apply(env); err != nil {
		return fmt.Errorf("%s %s to %s: %w", env.GetType(), env.GetEventId(), caseID, err)
	}
	e.c.markSeen(key)
	b.applied++
	if e.c.OverdueDept != overdueBefore {
		b.trackOverdue(caseID, e)
	}

	// A repeat petition takes the case it repeats out of 一次性化解, and
	// belongs to its matter.
	reg := env.GetPetitionRegistered()
	if reg != nil {
		e.c.Matter = caseID
	}
	if o := reg.GetRepeatOf(); o != "" && o != caseID {
		oe := b.entry(o)
		b.touch(o, oe)
		oe.c.HasRepeat = true
		e.c.Matter = o
		if oe.c.Matter != "" {
			e.c.Matter = oe.c.Matter
		}
	}
	// Counts of acts rather than of matters: 督办 notices.
	if a := env.GetCaseSupervisionAction(); a != nil && a.GetKind() == eventsv1.SupervisionActionKind_SUPERVISION_ACTION_KIND_DUBAN_NOTICE {
		day, err := eventDay(env, "")
		if err != nil {
			return err
		}
		b.at(rowKey{dimTotal, "", day})[mDuban]++
		if a.GetDepartment() != "" {
			b.at(rowKey{dimDepartment, a.GetDepartment(), day})[mDuban]++
		}
	}
	if reg != nil {
		for _, k := range reg.GetPetitionerKeys() {
			if k != "" {
				m := matterRow{key: k, caseID: caseID, matter: e.c.Matter, day: e.c.ReceivedDay}
				b.matters = append(b.matters, m)
				b.mattersOf[k] = append(b.mattersOf[k], m)
			}
		}
	}
	if env.GetImported() {
		return nil // history counts, but raises no alerts
	}
	overdue := e.c.OverdueDept != overdueBefore && e.c.OverdueDept != ""
	if reg == nil && !overdue {
		return nil
	}
	b.sync()
	ectx := ev.Ctx
	if ectx == nil {
		ectx = ctx
	}
	w := b.cfg.Spec.Warnings.Effective()
	r := &raiser{s: b.s, tx: b.tx, cfg: b.cfg, env: env, now: b.s.now(), pending: b}
	if reg != nil {
		return r.onRegistered(ectx, w, e.c, reg)
	}
	return r.onOverdue(ectx, w, e.c.OverdueDept)
}

// trackOverdue records how the case's overdue department now differs from
// the database's.
func (b *ingest) trackOverdue(id string, e *caseEntry) {
	for _, m := range b.overAdd {
		delete(m, id)
	}
	for _, m := range b.overDel {
		delete(m, id)
	}
	if e.c.OverdueDept == e.loadedOverdue {
		return
	}
	mark := func(sets map[string]map[string]bool, dept string) {
		if dept == "" {
			return
		}
		if sets[dept] == nil {
			sets[dept] = map[string]bool{}
		}
		sets[dept][id] = true
	}
	mark(b.overAdd, e.c.OverdueDept)
	mark(b.overDel, e.loadedOverdue)
}

// committedCount is a counter summed over the days [from, to] as
// committed before the batch (without pending).
func (b *ingest) committedCount(ctx context.Context, m metric, dimName, key string, from, to county.Date) (int64, error) {
	k := committedKey{m, dimName, key, from.String(), to.String()}
	if v, ok := b.committed[k]; ok {
		return v, nil
	}
	v, err := rangeCount(ctx, b.tx, m, dimName, key, from, to)
	if err != nil {
		return 0, err
	}
	b.committed[k] = v
	return v, nil
}

// dayCount is the batch's pending change of one counter on one day.
func (b *ingest) dayCount(m metric, dimName, key, day string) int64 {
	if v := b.pending[rowKey{dimName, key, day}]; v != nil {
		return v[m]
	}
	return 0
}

// flush writes the batch: each changed case's state and the pending
// counter deltas, rolled up per day, dekad, month, quarter and year. On
// PostgreSQL these writes are deferred: they go out with the COMMIT.
func (b *ingest) flush(ctx context.Context) error {
	b.sync()
	periods := make(map[periodRow]*vec, 4*len(b.pending))
	for r, v := range b.pending {
		if !v.zero() {
			rollUp(periods, r, v)
		}
	}
	if err := addCounts(ctx, b.tx, periods); err != nil {
		return err
	}
	var ids []string
	for id, e := range b.cases {
		if e.changed {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	saved := make([]savedCase, len(ids))
	for i, id := range ids {
		saved[i] = savedCase{id: id, c: b.cases[id].c}
	}
	if err := saveCases(ctx, b.tx, saved); err != nil {
		return err
	}
	return insertMatters(ctx, b.tx, b.matters)
}

// legacyApplied returns which of the events the kit inbox recorded as
// applied: versions before batching recorded the statistics consumer's
// events there instead of in the case rows. Only databases that have such
// rows pay for the lookup.
func (s *service) legacyApplied(ctx context.Context, tx *store.Tx, events []Event) (map[string]bool, error) {
	if s.legacyInbox == "" {
		return nil, nil
	}
	switch s.legacyState.Load() {
	case legacyNone:
		return nil, nil
	case legacyUnknown:
		var id string
		err := tx.QueryRow(ctx, `SELECT event_id FROM inbox WHERE consumer = ? LIMIT 1`, s.legacyInbox).Scan(&id)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			s.legacyState.Store(legacyNone)
			return nil, nil
		case err != nil:
			return nil, fmt.Errorf("legacy inbox: %w", err)
		}
		s.legacyState.Store(legacyPresent)
	}
	ids := make([]string, len(events))
	for i, ev := range events {
		ids[i] = ev.Env.GetEventId()
	}
	out := map[string]bool{}
	for len(ids) > 0 {
		n := min(len(ids), inChunk(tx.Dialect()))
		chunk := ids[:n]
		ids = ids[n:]
		// An array on PostgreSQL, as for the counters (periodsIn).
		query, args := `SELECT event_id FROM inbox WHERE consumer = ? AND event_id = ANY(?::text[])`, []any{s.legacyInbox, chunk}
		if tx.Dialect() == store.SQLite {
			ps := padded(chunk)
			args = []any{s.legacyInbox}
			for _, id := range ps {
				args = append(args, id)
			}
			query = `SELECT event_id FROM inbox WHERE consumer = ? AND event_id IN (` + placeholders(len(ps)) + `)`
		}
		rows, err := tx.Query(ctx, query, args...)
		if err != nil {
			return nil, fmt.Errorf("legacy inbox: %w", err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("legacy inbox: %w", err)
			}
			out[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("legacy inbox: %w", err)
		}
	}
	return out, nil
}

const (
	legacyUnknown int32 = iota
	legacyNone
	legacyPresent
)
