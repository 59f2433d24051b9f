package intake

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"xinfang.io/services/kit/apierror"
)

// QueryResponse is what a citizen sees for a query code: where the matter
// stands and what happened when. No names, numbers, addresses or texts of
// anyone — only dates, steps and the public bodies involved.
type QueryResponse struct {
	Status      string          `json:"status"`
	StatusLabel string          `json:"statusLabel"`
	Timeline    []TimelineEntry `json:"timeline"`
}

var statusLabels = map[string]string{
	statusRegistered: "已登记，待转送交办", statusAssigned: "已转送交办，待受理", statusAccepted: "办理中",
	statusReplied: "已出具处理意见", statusServed: "处理意见已送达", statusReviewing: "复查（复核）中",
	statusDiverted: "已引导通过法定途径解决", statusForwarded: "已转送有权处理机关", statusNotAccepted: "不予受理",
	statusClosed: "已办结", statusFinal: "已终结",
}

// errNoSuchCode is the one answer for every unknown or malformed code.
var errNoSuchCode = apierror.New(apierror.NotFound, "no matter with this query code")

func (s *service) Query(ctx context.Context, code string) (*QueryResponse, error) {
	canon, ok := NormalizeQueryCode(code)
	if !ok {
		return nil, errNoSuchCode
	}
	var caseID, status string
	err := s.db.QueryRow(ctx, `SELECT case_id, status FROM petitions WHERE query_hash = ?`, queryCodeHash(canon)).Scan(&caseID, &status)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNoSuchCode
	}
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	tl, err := s.timeline(ctx, caseID)
	if err != nil {
		return nil, err
	}
	return &QueryResponse{Status: status, StatusLabel: statusLabels[status], Timeline: tl}, nil
}
