package intake

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"xinfang.io/county"
	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/apierror"
	"xinfang.io/services/kit/store"
)

// record is a petition as stored.
type record struct {
	caseID, queryHash, repeatOf, registeredBy, sourceID string
	p                                                   *petition
	keys                                                []string
	registeredAt                                        time.Time
	imported, historyRouted                             bool
}

// Case statuses intake tracks for the public query and repeat detection.
const (
	statusRegistered  = "registered"
	statusAssigned    = "assigned"
	statusAccepted    = "accepted"
	statusReplied     = "replied"
	statusServed      = "served"
	statusReviewing   = "reviewing"
	statusDiverted    = "diverted"
	statusForwarded   = "forwarded"
	statusNotAccepted = "not_accepted"
	statusClosed      = "closed"
	statusFinal       = "final"
)

// openStatus reports whether a case is still being handled (Art. 19(3)).
func openStatus(s string) bool {
	switch s {
	case statusDiverted, statusForwarded, statusNotAccepted, statusClosed, statusFinal:
		return false
	}
	return true
}

func (s *service) insert(ctx context.Context, tx *store.Tx, rec record) error {
	pii, err := json.Marshal(rec.p.petitioners)
	if err != nil {
		return err
	}
	kid, sealed, err := s.keys.Seal(pii, []byte(rec.caseID))
	if err != nil {
		return err
	}
	var source any
	if rec.sourceID != "" {
		source = rec.sourceID
	}
	p := rec.p
	res, err := tx.Exec(ctx, `INSERT INTO petitions (case_id, query_hash, source_id, channel, township, title, request, facts, reasons,
		category_hint, respondent, person_count, group_petition, received_at, registered_at, registered_by, repeat_of, imported,
		status, status_at, departments, pii_kid, pii)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (case_id) DO NOTHING`,
		rec.caseID, rec.queryHash, source, channelName(p.channel), p.township, p.title, p.content.Request, p.content.Facts, p.content.Reasons,
		categoryName(p.category), p.respondent, p.personCount, boolInt(p.group), store.FormatTime(p.receivedAt),
		store.FormatTime(rec.registeredAt), rec.registeredBy, rec.repeatOf, boolInt(rec.imported),
		statusRegistered, store.FormatTime(p.receivedAt), "[]", kid, sealed)
	if err != nil {
		return fmt.Errorf("store petition %s: %w", rec.caseID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store petition %s: %w", rec.caseID, err)
	} else if n == 0 {
		return fmt.Errorf("store petition %s: %w", rec.caseID, errCaseIDTaken)
	}
	for _, k := range rec.keys {
		if err := tx.ExecDeferred(ctx, `INSERT INTO petitioner_cases (petitioner_key, case_id) VALUES (?, ?)`, k, rec.caseID); err != nil {
			return fmt.Errorf("store petition %s: %w", rec.caseID, err)
		}
	}
	return addTimeline(ctx, tx, rec.caseID, p.receivedAt, "registered", "已登记")
}

// querier is a database or a transaction (store.DB, store.Tx).
type querier interface {
	Query(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

// findRepeat returns the case this petition repeats: one of the same
// petitioners' cases that is open, final, or closed within the county's
// window, whose matter is at least the county's similarity threshold alike.
// The most similar wins; among equals, the most recent.
func (s *service) findRepeat(ctx context.Context, db querier, cfg *county.Config, keys []string, p *petition, now time.Time) (string, error) {
	if len(keys) == 0 {
		return "", nil
	}
	settings := cfg.Spec.RepeatDetection.Effective()
	cutoff := now.AddDate(0, 0, -settings.WindowDays)
	ph := strings.TrimSuffix(strings.Repeat("?,", len(keys)), ",")
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	rows, err := db.Query(ctx, `SELECT DISTINCT p.case_id, p.title, p.request, p.facts, p.status, p.status_at, p.registered_at
		FROM petitioner_cases k JOIN petitions p ON p.case_id = k.case_id
		WHERE k.petitioner_key IN (`+ph+`)`, args...)
	if err != nil {
		return "", fmt.Errorf("repeat lookup: %w", err)
	}
	defer rows.Close()
	text := p.title + p.content.Request + p.content.Facts
	best, bestScore, bestAt := "", -1, ""
	for rows.Next() {
		var id, title, request, facts, status, statusAt, registeredAt string
		if err := rows.Scan(&id, &title, &request, &facts, &status, &statusAt, &registeredAt); err != nil {
			return "", fmt.Errorf("repeat lookup: %w", err)
		}
		if status == statusClosed {
			if t, err := store.ParseTime(statusAt); err == nil && t.Before(cutoff) {
				continue
			}
		}
		score := Similarity(text, title+request+facts)
		if score < settings.SimilarityPercent {
			continue
		}
		if score > bestScore || (score == bestScore && registeredAt > bestAt) {
			best, bestScore, bestAt = id, score, registeredAt
		}
	}
	return best, rows.Err()
}

// load reads a case for the staff view (personal data still sealed).
func (s *service) load(ctx context.Context, caseID string) (*PetitionView, string, []byte, error) {
	v := &PetitionView{CaseID: caseID}
	var received, registered, repeatOf, departments, kid string
	var group, imported int
	var sealed []byte
	err := s.db.QueryRow(ctx, `SELECT status, channel, person_count, group_petition, township, title, request, facts, reasons,
		category_hint, respondent, received_at, registered_at, repeat_of, imported, departments, pii_kid, pii
		FROM petitions WHERE case_id = ?`, caseID).Scan(&v.Status, &v.Channel, &v.PersonCount, &group, &v.Township, &v.Title,
		&v.Content.Request, &v.Content.Facts, &v.Content.Reasons, &v.Category, &v.Respondent, &received, &registered,
		&repeatOf, &imported, &departments, &kid, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", nil, apierror.New(apierror.NotFound, "no case %s", caseID)
	}
	if err != nil {
		return nil, "", nil, fmt.Errorf("load case %s: %w", caseID, err)
	}
	v.Group, v.Imported = group == 1, imported == 1
	v.ReceivedAt, _ = store.ParseTime(received)
	v.RegisteredAt, _ = store.ParseTime(registered)
	if repeatOf != "" {
		v.RepeatOf = &repeatOf
	}
	_ = json.Unmarshal([]byte(departments), &v.Departments)
	v.Timeline, err = s.timeline(ctx, caseID)
	return v, kid, sealed, err
}

// TimelineEntry is one dated step of a case, fit for the citizen's eyes.
type TimelineEntry struct {
	Date  string `json:"date"`
	Kind  string `json:"kind"`
	Label string `json:"label"`
}

func addTimeline(ctx context.Context, tx *store.Tx, caseID string, at time.Time, kind, label string) error {
	err := tx.ExecDeferred(ctx, `INSERT INTO timeline (case_id, seq, at, kind, label)
		VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM timeline WHERE case_id = ?), ?, ?, ?)`,
		caseID, caseID, store.FormatTime(at), kind, label)
	if err != nil {
		return fmt.Errorf("timeline %s: %w", caseID, err)
	}
	return nil
}

func (s *service) timeline(ctx context.Context, caseID string) ([]TimelineEntry, error) {
	rows, err := s.db.Query(ctx, `SELECT at, kind, label FROM timeline WHERE case_id = ? ORDER BY seq`, caseID)
	if err != nil {
		return nil, fmt.Errorf("timeline %s: %w", caseID, err)
	}
	defer rows.Close()
	out := []TimelineEntry{}
	for rows.Next() {
		var at string
		var e TimelineEntry
		if err := rows.Scan(&at, &e.Kind, &e.Label); err != nil {
			return nil, err
		}
		t, _ := store.ParseTime(at)
		e.Date = county.DateOf(t).String()
		out = append(out, e)
	}
	return out, rows.Err()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func channelName(c eventsv1.Channel) string {
	for name, v := range channels {
		if v == c {
			return name
		}
	}
	return ""
}

func categoryName(c eventsv1.Category) string {
	switch c {
	case eventsv1.Category_CATEGORY_COMPLAINT:
		return "complaint"
	case eventsv1.Category_CATEGORY_SUGGESTION:
		return "suggestion"
	case eventsv1.Category_CATEGORY_ACCUSATION:
		return "accusation"
	}
	return ""
}
