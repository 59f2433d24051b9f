package routing

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/store"
)

// Case statuses routing tracks.
const (
	statusOpen   = "open"
	statusClosed = "closed"
	statusFinal  = "final"
)

// caseRow is one row of routing_cases.
type caseRow struct {
	CaseID          string
	Petition        *eventsv1.PetitionRegistered // nil when routing never saw it
	PetitionEventID string
	Imported        bool
	Status          string
	Decision        Kind // "" before the first decision
	Category        string
	Lead            string
	Co              []string
	Excluded        map[string]string
	Attempt         uint32
	RuleID          string
	RulesVersion    string
	LinkedCase      string
	DecisionEventID string
}

type querier interface {
	QueryRow(ctx context.Context, q string, args ...any) *sql.Row
}

var errStale = errors.New("the case was routed concurrently; retry")

func loadCase(ctx context.Context, q querier, caseID string) (*caseRow, error) {
	var (
		r                  caseRow
		petition, co, excl string
		imported, attempt  int64
		decision           string
	)
	err := q.QueryRow(ctx, `SELECT case_id, petition, petition_event_id, imported, status, decision, category, lead, co, excluded_departments,
	attempt, rule_id, rules_version, linked_case, decision_event_id FROM routing_cases WHERE case_id = ?`, caseID).Scan(
		&r.CaseID, &petition, &r.PetitionEventID, &imported, &r.Status, &decision, &r.Category, &r.Lead, &co, &excl,
		&attempt, &r.RuleID, &r.RulesVersion, &r.LinkedCase, &r.DecisionEventID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load case %s: %w", caseID, err)
	}
	r.Imported, r.Attempt, r.Decision = imported != 0, uint32(attempt), Kind(decision)
	if petition != "" {
		if r.Petition, err = decodePetition(petition); err != nil {
			return nil, fmt.Errorf("load case %s: petition: %w", caseID, err)
		}
	}
	if err := json.Unmarshal([]byte(co), &r.Co); err != nil {
		return nil, fmt.Errorf("load case %s: co-departments: %w", caseID, err)
	}
	if err := json.Unmarshal([]byte(excl), &r.Excluded); err != nil {
		return nil, fmt.Errorf("load case %s: excluded departments: %w", caseID, err)
	}
	if r.Excluded == nil {
		r.Excluded = map[string]string{}
	}
	return &r, nil
}

// apply fills the decision columns of r from d, routing attempt attempt.
func (r *caseRow) apply(d Decision, attempt uint32, eventID string) {
	r.Decision, r.Category, r.RuleID, r.RulesVersion = d.Kind, string(d.Category), d.RuleID, d.RulesVersion
	r.Lead, r.Co, r.LinkedCase, r.DecisionEventID = d.Lead, d.Co, d.LinkedCase, eventID
	r.Attempt = attempt
}

func (r *caseRow) encode() (petition, co, excl string, err error) {
	if r.Petition != nil {
		if petition, err = encodePetition(r.Petition); err != nil {
			return "", "", "", fmt.Errorf("encode petition of %s: %w", r.CaseID, err)
		}
	}
	cob, err := json.Marshal(nonNil(r.Co))
	if err != nil {
		return "", "", "", err
	}
	if r.Excluded == nil {
		r.Excluded = map[string]string{}
	}
	eb, err := json.Marshal(r.Excluded)
	if err != nil {
		return "", "", "", err
	}
	return petition, string(cob), string(eb), nil
}

// petitionPrefix marks a petition stored as base64 of its protobuf
// encoding. Rows written before it hold protojson, which stays readable;
// protojson cost a fifth of a decision's CPU in the catch-up benchmark.
const petitionPrefix = "pb:"

func encodePetition(p *eventsv1.PetitionRegistered) (string, error) {
	b, err := proto.Marshal(p)
	if err != nil {
		return "", err
	}
	return petitionPrefix + base64.StdEncoding.EncodeToString(b), nil
}

func decodePetition(s string) (*eventsv1.PetitionRegistered, error) {
	p := &eventsv1.PetitionRegistered{}
	if rest, ok := strings.CutPrefix(s, petitionPrefix); ok {
		b, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return nil, err
		}
		return p, proto.Unmarshal(b, p)
	}
	return p, protojson.Unmarshal([]byte(s), p)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// insertFirstDecision stores a case's first decision. A row that only holds
// a status (a case.final seen first) is filled in; a row that already has a
// decision is left alone and errStale returned.
func insertFirstDecision(ctx context.Context, tx *store.Tx, r *caseRow, now time.Time) error {
	petition, co, excl, err := r.encode()
	if err != nil {
		return err
	}
	res, err := tx.Exec(ctx, `INSERT INTO routing_cases (case_id, petition, petition_event_id, imported, status, decision, category, lead, co, excluded_departments,
	attempt, rule_id, rules_version, linked_case, decision_event_id, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (case_id) DO UPDATE SET petition = excluded.petition, petition_event_id = excluded.petition_event_id,
	imported = excluded.imported, decision = excluded.decision, category = excluded.category, lead = excluded.lead,
	co = excluded.co, excluded_departments = excluded.excluded_departments, attempt = excluded.attempt, rule_id = excluded.rule_id,
	rules_version = excluded.rules_version, linked_case = excluded.linked_case,
	decision_event_id = excluded.decision_event_id, updated_at = excluded.updated_at
WHERE routing_cases.decision = ''`,
		r.CaseID, petition, r.PetitionEventID, boolInt(r.Imported), statusOpen, string(r.Decision), r.Category, r.Lead, co, excl,
		int64(r.Attempt), r.RuleID, r.RulesVersion, r.LinkedCase, r.DecisionEventID, store.FormatTime(now))
	if err != nil {
		return fmt.Errorf("store decision of %s: %w", r.CaseID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store decision of %s: %w", r.CaseID, err)
	} else if n != 1 {
		return errStale
	}
	return nil
}

// updateDecision stores a re-routing of r, provided nobody re-routed the
// case since r was read at attempt prev.
func updateDecision(ctx context.Context, tx *store.Tx, r *caseRow, prev uint32, now time.Time) error {
	_, co, excl, err := r.encode()
	if err != nil {
		return err
	}
	res, err := tx.Exec(ctx, `UPDATE routing_cases SET decision = ?, category = ?, lead = ?, co = ?, excluded_departments = ?, attempt = ?,
	rule_id = ?, rules_version = ?, linked_case = ?, decision_event_id = ?, updated_at = ?
WHERE case_id = ? AND attempt = ?`,
		string(r.Decision), r.Category, r.Lead, co, excl, int64(r.Attempt), r.RuleID, r.RulesVersion, r.LinkedCase,
		r.DecisionEventID, store.FormatTime(now), r.CaseID, int64(prev))
	if err != nil {
		return fmt.Errorf("store re-routing of %s: %w", r.CaseID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store re-routing of %s: %w", r.CaseID, err)
	} else if n != 1 {
		return errStale
	}
	return nil
}

// setStatus records that a case closed or became final; final is never
// undone by a later close.
func setStatus(ctx context.Context, tx *store.Tx, caseID, status string, now time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO routing_cases (case_id, status, updated_at) VALUES (?, ?, ?)
ON CONFLICT (case_id) DO UPDATE SET status = CASE WHEN routing_cases.status = 'final' THEN 'final' ELSE excluded.status END,
	updated_at = excluded.updated_at`, caseID, status, store.FormatTime(now))
	if err != nil {
		return fmt.Errorf("set case %s %s: %w", caseID, status, err)
	}
	return nil
}

// auditDecision records an emitted decision.
func auditDecision(ctx context.Context, tx *store.Tx, env *eventsv1.Envelope, d Decision, now time.Time) error {
	b, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("audit decision of %s: %w", env.CaseId, err)
	}
	actor := env.GetActor().GetId()
	if err := tx.ExecDeferred(ctx, `INSERT INTO routing_decisions (event_id, case_id, attempt, kind, manual, actor, reason, causation_id, decision, decided_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, env.EventId, env.CaseId, int64(d.Attempt), string(d.Kind), boolInt(d.Manual), actor,
		env.Reason, env.CausationId, string(b), store.FormatTime(now)); err != nil {
		return fmt.Errorf("audit decision of %s: %w", env.CaseId, err)
	}
	return nil
}

// resolveRepeat follows the chain of repeats from id: a case that was
// itself not accepted as a repeat leads to the case it was linked to.
func resolveRepeat(ctx context.Context, q querier, self, id string) (Repeat, error) {
	seen := map[string]bool{self: true}
	for id != "" {
		if seen[id] {
			return Repeat{CaseID: id}, nil // a loop of repeats: treat as no repeat
		}
		seen[id] = true
		r, err := loadCase(ctx, q, id)
		if err != nil {
			return Repeat{}, err
		}
		switch {
		case r == nil:
			return Repeat{CaseID: id, State: RepeatUnknown}, nil
		case r.Status == statusFinal:
			return Repeat{CaseID: id, State: RepeatFinal}, nil
		case r.Decision == KindNotAccepted && r.LinkedCase != "":
			id = r.LinkedCase
		case r.Status == statusClosed:
			return Repeat{CaseID: id, State: RepeatClosed}, nil
		case r.Decision == KindAssigned, r.Decision == KindAwaitingManual:
			// Being handled, or with the bureau waiting for a manual 转办:
			// within its time limits either way.
			return Repeat{CaseID: id, State: RepeatOpen}, nil
		default:
			// Diverted, forwarded or out of scope: the bureau's part ended,
			// so there is no open case to link to.
			return Repeat{CaseID: id, State: RepeatClosed}, nil
		}
	}
	return Repeat{}, nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// recordInbox records a consumed event in the kit's inbox table inside a
// batch's transaction and reports whether it is new. It is kit/inbox's
// Apply without its own transaction (the kit has no transaction-scoped
// form yet), so a batch of events commits once, inbox rows included.
func recordInbox(ctx context.Context, tx *store.Tx, consumer, eventID string, now time.Time) (bool, error) {
	if eventID == "" {
		return false, fmt.Errorf("inbox %s: event without id", consumer)
	}
	res, err := tx.Exec(ctx, `INSERT INTO inbox (consumer, event_id, applied_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
		consumer, eventID, store.FormatTime(now))
	if err != nil {
		return false, fmt.Errorf("inbox %s: record %s: %w", consumer, eventID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("inbox %s: %w", consumer, err)
	}
	return n == 1, nil
}
