package routing

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"xinfang.io/services/kit/apierror"
	"xinfang.io/services/kit/auth"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/tracing"
)

// bureauRoles may read routing's case state. A department never does:
// the list would show it accusations against itself (Art. 30(3), 46(5));
// it sees its own cases in supervision.
var bureauRoles = []auth.Role{auth.RoleClerk, auth.RoleSupervisor, auth.RoleLeader, auth.RoleAdmin}

// ExcludedDepartment is a department kept off a case, with its guard.
type ExcludedDepartment struct {
	Department string `json:"department"`
	Guard      string `json:"guard"`
}

// DecisionRecord is one decision routing emitted for a case (the audit).
type DecisionRecord struct {
	EventID     string          `json:"eventId"`
	Attempt     uint32          `json:"attempt"`
	Kind        Kind            `json:"kind"`
	Manual      bool            `json:"manual"`
	Actor       string          `json:"actor"`
	Reason      string          `json:"reason"`
	CausationID string          `json:"causationId,omitempty"`
	DecidedAt   time.Time       `json:"decidedAt"`
	Decision    json.RawMessage `json:"decision"`
}

// CaseView is routing's state of one case.
type CaseView struct {
	CaseID string `json:"caseId"`
	// Status is open, closed or final (from case.closed / case.final).
	Status string `json:"status"`
	// State is the decision in force: assigned, diverted, forwarded,
	// not-accepted, history (imported with its routing), awaiting-manual,
	// or empty when routing only heard of the case's end.
	State Kind `json:"state"`
	// AwaitingManual: no department may receive the case; bureau staff
	// must route it (POST /v1/cases/{caseId}/reroute).
	AwaitingManual bool                 `json:"awaitingManual"`
	Category       string               `json:"category,omitempty"`
	Lead           string               `json:"lead,omitempty"`
	Co             []string             `json:"co,omitempty"`
	Excluded       []ExcludedDepartment `json:"excluded"`
	Attempt        uint32               `json:"attempt"`
	RuleID         string               `json:"ruleId,omitempty"`
	RulesVersion   string               `json:"rulesVersion,omitempty"`
	LinkedCaseID   string               `json:"linkedCaseId,omitempty"`
	Imported       bool                 `json:"imported"`
	// Reason is the reason of the decision in force.
	Reason    string           `json:"reason,omitempty"`
	UpdatedAt time.Time        `json:"updatedAt"`
	History   []DecisionRecord `json:"history"`
}

// Case implements Service.
func (s *service) Case(ctx context.Context, caseID string) (*CaseView, error) {
	if _, err := auth.Require(ctx, bureauRoles...); err != nil {
		return nil, err
	}
	tracing.SetCaseID(ctx, caseID)
	v, err := s.caseSummary(ctx, caseID)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT event_id, attempt, kind, manual, actor, reason, causation_id, decision, decided_at
FROM routing_decisions WHERE case_id = ? ORDER BY decided_at, attempt, event_id`, caseID)
	if err != nil {
		return nil, fmt.Errorf("case %s: history: %w", caseID, err)
	}
	defer rows.Close()
	v.History = []DecisionRecord{}
	for rows.Next() {
		var (
			r               DecisionRecord
			attempt, manual int64
			kind, dec, at   string
		)
		if err := rows.Scan(&r.EventID, &attempt, &kind, &manual, &r.Actor, &r.Reason, &r.CausationID, &dec, &at); err != nil {
			return nil, fmt.Errorf("case %s: history: %w", caseID, err)
		}
		r.Attempt, r.Kind, r.Manual, r.Decision = uint32(attempt), Kind(kind), manual != 0, json.RawMessage(dec)
		if r.DecidedAt, err = store.ParseTime(at); err != nil {
			return nil, fmt.Errorf("case %s: history: %w", caseID, err)
		}
		v.History = append(v.History, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("case %s: history: %w", caseID, err)
	}
	return v, nil
}

// caseSummary reads a case row with the reason of its decision in force.
func (s *service) caseSummary(ctx context.Context, caseID string) (*CaseView, error) {
	row, err := loadCase(ctx, s.db, caseID)
	if err != nil {
		return nil, err
	}
	if row == nil {
		return nil, apierror.New(apierror.NotFound, "routing knows no case %s", caseID)
	}
	v := viewOf(row)
	var reason, updated string
	err = s.db.QueryRow(ctx, `SELECT c.updated_at, COALESCE(d.reason, '') FROM routing_cases c
LEFT JOIN routing_decisions d ON d.event_id = c.decision_event_id WHERE c.case_id = ?`, caseID).Scan(&updated, &reason)
	if err != nil {
		return nil, fmt.Errorf("case %s: %w", caseID, err)
	}
	v.Reason = reason
	if v.UpdatedAt, err = store.ParseTime(updated); err != nil {
		return nil, fmt.Errorf("case %s: %w", caseID, err)
	}
	return v, nil
}

func viewOf(r *caseRow) *CaseView {
	v := &CaseView{
		CaseID: r.CaseID, Status: r.Status, State: r.Decision, AwaitingManual: r.Decision == KindAwaitingManual,
		Category: r.Category, Lead: r.Lead, Co: r.Co, Attempt: r.Attempt, RuleID: r.RuleID, RulesVersion: r.RulesVersion,
		LinkedCaseID: r.LinkedCase, Imported: r.Imported, Excluded: []ExcludedDepartment{},
	}
	for _, id := range sortedKeys(r.Excluded) {
		v.Excluded = append(v.Excluded, ExcludedDepartment{Department: id, Guard: r.Excluded[id]})
	}
	return v
}

// CasesRequest lists cases in one state, in case id order.
type CasesRequest struct {
	// State is awaiting-manual (the default: bureau staff's work list),
	// assigned, diverted, forwarded or not-accepted.
	State Kind
	// After is the last case id of the previous page.
	After string
	// Limit is the page size: 1–1000, default 100.
	Limit int
}

// CaseSummary is a case in a list.
type CaseSummary struct {
	CaseID    string               `json:"caseId"`
	Status    string               `json:"status"`
	Category  string               `json:"category,omitempty"`
	Lead      string               `json:"lead,omitempty"`
	Attempt   uint32               `json:"attempt"`
	Excluded  []ExcludedDepartment `json:"excluded"`
	Reason    string               `json:"reason,omitempty"`
	UpdatedAt time.Time            `json:"updatedAt"`
}

// CasesResponse is one page of a list.
type CasesResponse struct {
	State Kind          `json:"state"`
	Cases []CaseSummary `json:"cases"`
	// Next is the after of the next page; empty on the last page.
	Next string `json:"next,omitempty"`
}

var listableStates = []Kind{KindAwaitingManual, KindAssigned, KindDiverted, KindForwarded, KindNotAccepted}

const (
	defaultPage = 100
	maxPage     = 1000
)

// Cases implements Service.
func (s *service) Cases(ctx context.Context, req CasesRequest) (*CasesResponse, error) {
	if _, err := auth.Require(ctx, bureauRoles...); err != nil {
		return nil, err
	}
	if req.State == "" {
		req.State = KindAwaitingManual
	}
	fields := apierror.Fields{}
	if !slices.Contains(listableStates, req.State) {
		fields.Add("state", "must be one of %v", listableStates)
	}
	switch {
	case req.Limit == 0:
		req.Limit = defaultPage
	case req.Limit < 1 || req.Limit > maxPage:
		fields.Add("limit", "must be between 1 and %d", maxPage)
	}
	if err := fields.Err(); err != nil {
		return nil, err
	}
	// routing_cases_decision (migration 2) makes this an index range scan.
	rows, err := s.db.Query(ctx, `SELECT c.case_id, c.status, c.category, c.lead, c.attempt, c.excluded_departments, c.updated_at,
	COALESCE(d.reason, '')
FROM routing_cases c LEFT JOIN routing_decisions d ON d.event_id = c.decision_event_id
WHERE c.decision = ? AND c.case_id > ? ORDER BY c.case_id LIMIT ?`, string(req.State), req.After, req.Limit+1)
	if err != nil {
		return nil, fmt.Errorf("list %s cases: %w", req.State, err)
	}
	defer rows.Close()
	resp := &CasesResponse{State: req.State, Cases: []CaseSummary{}}
	for rows.Next() {
		var (
			c             CaseSummary
			attempt       int64
			excl, updated string
		)
		if err := rows.Scan(&c.CaseID, &c.Status, &c.Category, &c.Lead, &attempt, &excl, &updated, &c.Reason); err != nil {
			return nil, fmt.Errorf("list %s cases: %w", req.State, err)
		}
		c.Attempt = uint32(attempt)
		var m map[string]string
		if err := json.Unmarshal([]byte(excl), &m); err != nil {
			return nil, fmt.Errorf("list %s cases: case %s: excluded departments: %w", req.State, c.CaseID, err)
		}
		c.Excluded = []ExcludedDepartment{}
		for _, id := range sortedKeys(m) {
			c.Excluded = append(c.Excluded, ExcludedDepartment{Department: id, Guard: m[id]})
		}
		if c.UpdatedAt, err = store.ParseTime(updated); err != nil {
			return nil, fmt.Errorf("list %s cases: %w", req.State, err)
		}
		resp.Cases = append(resp.Cases, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list %s cases: %w", req.State, err)
	}
	if len(resp.Cases) > req.Limit {
		resp.Cases = resp.Cases[:req.Limit]
		resp.Next = resp.Cases[req.Limit-1].CaseID
	}
	return resp, nil
}

// countAwaiting counts the cases waiting for a manual 转办 (a gauge).
func countAwaiting(ctx context.Context, db *store.DB) (int, error) {
	var n int
	if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM routing_cases WHERE decision = ?`, string(KindAwaitingManual)).Scan(&n); err != nil {
		return 0, fmt.Errorf("count cases awaiting manual routing: %w", err)
	}
	return n, nil
}

// parseCasesQuery reads GET /v1/routing/cases' query parameters.
func parseCasesQuery(state, after, limit string) (CasesRequest, error) {
	req := CasesRequest{State: Kind(strings.TrimSpace(state)), After: strings.TrimSpace(after)}
	if limit != "" {
		n, err := strconv.Atoi(limit)
		if err != nil {
			return req, &apierror.Error{Kind: apierror.Validation, Message: "the query has invalid parameters",
				Fields: apierror.Fields{"limit": "must be a whole number"}}
		}
		req.Limit = n
	}
	return req, nil
}
