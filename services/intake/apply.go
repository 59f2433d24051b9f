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
	"xinfang.io/services/kit/kafkatransport"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/tracing"
)

// step is what one event means for the citizen's view of a case.
type step struct {
	status      string   // new status, "" to keep
	label       string   // timeline text, "" for internal events
	departments []string // new handling departments, nil to keep
}

func (s *service) Apply(ctx context.Context, env *eventsv1.Envelope) error {
	tracing.SetCaseID(ctx, env.CaseId)
	if env.GetPetitionRegistered() != nil || env.GetAlertRaised() != nil {
		return nil
	}
	cfg := s.county()
	st := describe(cfg, env)
	_, err := s.inbox.Apply(ctx, env.EventId, func(tx *store.Tx) error {
		at := env.GetOccurredAt().AsTime()
		found, err := applyStep(ctx, tx, env.CaseId, st, at)
		if err != nil {
			return err
		}
		if !found {
			// Every case starts at intake; an event for a case intake never
			// registered is a fault to look at, not to retry.
			return kafkatransport.Permanent(fmt.Errorf("apply %s: case %s was not registered here", env.Type, env.CaseId))
		}
		if st.label != "" {
			return addTimeline(ctx, tx, env.CaseId, at, env.Type, st.label)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("apply %s to %s: %w", env.Type, env.CaseId, err)
	}
	return nil
}

// applyStep sets what st changes on the case's row in one statement and
// reports whether intake registered the case: the update's row count
// tells, and only a step that changes nothing reads the row instead.
func applyStep(ctx context.Context, tx *store.Tx, caseID string, st step, at time.Time) (bool, error) {
	var sets []string
	var args []any
	if st.status != "" {
		sets = append(sets, "status = ?", "status_at = ?")
		args = append(args, st.status, store.FormatTime(at))
	}
	if st.departments != nil {
		b, err := json.Marshal(st.departments)
		if err != nil {
			return false, err
		}
		sets = append(sets, "departments = ?")
		args = append(args, string(b))
	}
	if len(sets) == 0 {
		var exists int
		err := tx.QueryRow(ctx, `SELECT 1 FROM petitions WHERE case_id = ?`, caseID).Scan(&exists)
		if errors.Is(err, sql.ErrNoRows) {
			return false, nil
		}
		return err == nil, err
	}
	res, err := tx.Exec(ctx, `UPDATE petitions SET `+strings.Join(sets, ", ")+` WHERE case_id = ?`, append(args, caseID)...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

func deptName(cfg *county.Config, id string) string {
	if d, ok := cfg.Department(id); ok {
		return d.Name
	}
	return id
}

var legalChannels = map[eventsv1.LegalChannel]string{
	eventsv1.LegalChannel_LEGAL_CHANNEL_LITIGATION:                     "诉讼",
	eventsv1.LegalChannel_LEGAL_CHANNEL_ARBITRATION:                    "仲裁",
	eventsv1.LegalChannel_LEGAL_CHANNEL_PARTY_DISCIPLINE:               "党员申诉",
	eventsv1.LegalChannel_LEGAL_CHANNEL_ADMINISTRATIVE_RECONSIDERATION: "行政复议",
	eventsv1.LegalChannel_LEGAL_CHANNEL_ADMINISTRATIVE_RULING:          "行政裁决",
	eventsv1.LegalChannel_LEGAL_CHANNEL_ADMINISTRATIVE_CONFIRMATION:    "行政确认",
	eventsv1.LegalChannel_LEGAL_CHANNEL_ADMINISTRATIVE_LICENSING:       "行政许可",
	eventsv1.LegalChannel_LEGAL_CHANNEL_ADMINISTRATIVE_PENALTY:         "行政处罚",
	eventsv1.LegalChannel_LEGAL_CHANNEL_OTHER_LEGAL:                    "其他法定途径",
}

var replyOutcomes = map[eventsv1.ReplyOutcome]string{
	eventsv1.ReplyOutcome_REPLY_OUTCOME_SUPPORTED:     "支持",
	eventsv1.ReplyOutcome_REPLY_OUTCOME_EXPLAINED:     "解释说明",
	eventsv1.ReplyOutcome_REPLY_OUTCOME_NOT_SUPPORTED: "不予支持",
}

var reviewOutcomes = map[eventsv1.ReviewOutcome]string{
	eventsv1.ReviewOutcome_REVIEW_OUTCOME_UPHELD:  "维持",
	eventsv1.ReviewOutcome_REVIEW_OUTCOME_REVOKED: "撤销",
	eventsv1.ReviewOutcome_REVIEW_OUTCOME_CHANGED: "变更",
}

var notAcceptedReasons = map[eventsv1.NotAcceptedReason]string{
	eventsv1.NotAcceptedReason_NOT_ACCEPTED_REASON_FINAL:             "同一事实和理由已经复核终结",
	eventsv1.NotAcceptedReason_NOT_ACCEPTED_REASON_WITHIN_TIME_LIMIT: "同一事项正在法定期限内办理",
	eventsv1.NotAcceptedReason_NOT_ACCEPTED_REASON_OUT_OF_SCOPE:      "不属于信访事项",
}

// describe turns an event into its public meaning. Internal steps
// (supervision actions, flags, evaluations) change nothing the citizen sees.
func describe(cfg *county.Config, env *eventsv1.Envelope) step {
	switch e := env.PayloadMessage().(type) {
	case *eventsv1.CaseAssigned:
		depts := append([]string{e.LeadDepartment}, e.CoDepartments...)
		verb := "转送"
		if e.Mode == eventsv1.AssignMode_ASSIGN_MODE_ASSIGN {
			verb = "交办"
		}
		return step{status: statusAssigned, departments: depts,
			label: fmt.Sprintf("已%s至%s，应于%s前告知是否受理", verb, deptName(cfg, e.LeadDepartment), e.AcknowledgeDue)}
	case *eventsv1.CaseDiverted:
		l := fmt.Sprintf("属于依法通过%s途径解决的事项，请向%s提出", legalChannels[e.LegalChannel], e.Body)
		if e.Guidance != "" {
			l += "：" + e.Guidance
		}
		return step{status: statusDiverted, label: l}
	case *eventsv1.CaseForwarded:
		return step{status: statusForwarded, label: "已转送" + e.Destination + "处理"}
	case *eventsv1.CaseNotAccepted:
		return step{status: statusNotAccepted, label: fmt.Sprintf("不予受理：%s（《信访工作条例》第%s条）", notAcceptedReasons[e.Reason], e.Article)}
	case *eventsv1.CaseAcknowledged:
		return step{label: deptName(cfg, e.Department) + "已告知受理"}
	case *eventsv1.CaseObjected:
		return step{status: statusRegistered, label: "承办单位提出异议，正在重新转送交办"}
	case *eventsv1.CaseAccepted:
		return step{status: statusAccepted, label: fmt.Sprintf("%s已受理，办理期限至%s", deptName(cfg, e.Department), e.HandlingDue)}
	case *eventsv1.CaseExtended:
		return step{label: fmt.Sprintf("办理期限延长至%s", e.NewDue)}
	case *eventsv1.CaseReplied:
		return step{status: statusReplied, label: fmt.Sprintf("已出具处理意见（%s）", replyOutcomes[e.Outcome])}
	case *eventsv1.CaseServed:
		return step{status: statusServed, label: fmt.Sprintf("处理意见已送达；如不服，可于%s前申请复查", e.ReviewRequestDue)}
	case *eventsv1.CaseReviewRequested:
		return step{status: statusReviewing, label: "已申请复查"}
	case *eventsv1.CaseReviewDecided:
		return step{status: statusServed, label: fmt.Sprintf("复查意见：%s；如不服，可于%s前申请复核", reviewOutcomes[e.Outcome], e.ReReviewRequestDue)}
	case *eventsv1.CaseReReviewRequested:
		return step{status: statusReviewing, label: "已申请复核"}
	case *eventsv1.CaseReReviewDecided:
		return step{label: fmt.Sprintf("复核意见：%s", reviewOutcomes[e.Outcome])}
	case *eventsv1.CaseReturned:
		return step{status: statusAccepted, label: fmt.Sprintf("退回重新办理，期限至%s", e.NewDue)}
	case *eventsv1.CaseMediated:
		if e.AgreementReached {
			return step{label: "已达成调解（和解）协议"}
		}
		return step{}
	case *eventsv1.CaseClosed:
		return step{status: statusClosed, label: "已办结"}
	case *eventsv1.CaseFinal:
		return step{status: statusFinal, label: "复核终结，同一事实和理由不再受理"}
	}
	return step{}
}
