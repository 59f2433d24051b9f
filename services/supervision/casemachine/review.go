package casemachine

// The petitioner's remedies and the bureau's side paths: review (复查) and
// re-review (复核) with hearings, return for rework (退回重办), mediation,
// flags, and the written answer to a 督办 notice.

import (
	"fmt"

	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/apierror"
)

// requestWindow checks a petitioner's request against its window: a live
// request after the window is refused; imported history records it as late.
func (m *machine) requestWindow(k ClockKind, article string) (bool, error) {
	cl := m.c.Running(k)
	within := cl != nil && !m.today.After(cl.Due)
	if !within && !m.imported {
		due := "-"
		if cl != nil {
			due = cl.Due.String()
		}
		return false, IllegalTransition(m.c, m.cmd.Action, fmt.Sprintf("the request window ended on %s (Art. %s)", due, article))
	}
	m.c.stopClocks(ClockMet, m.today, k)
	return within, nil
}

func (m *machine) requestReview() error {
	f := apierror.Fields{}
	body := text(f, "reviewingBody", m.cmd.ReviewingBody, true, maxName)
	if err := f.Err(); err != nil {
		return err
	}
	within, err := m.requestWindow(ClockReviewRequest, "35")
	if err != nil {
		return err
	}
	cl := m.c.startClock(m.cfg, ClockReviewDecision, m.today, m.cfg.Deadlines.ReviewDecisionDays)
	m.c.Review = &Review{Body: body, RequestedOn: m.today, WithinWindow: within}
	m.c.State = StateReviewRequested
	m.emit(&eventsv1.CaseReviewRequested{ReviewingBody: body, WithinWindow: within, DecisionDue: cl.Due.String()})
	return nil
}

func (m *machine) decision() (eventsv1.ReviewOutcome, string, error) {
	f := apierror.Fields{}
	outcome := oneOf(f, "outcome", m.cmd.Outcome, ReviewOutcomes)
	opinion := text(f, "opinion", m.cmd.Opinion, true, maxText)
	return outcome, opinion, f.Err()
}

func (m *machine) decideReview() error {
	outcome, opinion, err := m.decision()
	if err != nil {
		return err
	}
	m.c.stopClocks(ClockMet, m.today, ClockReviewDecision)
	r := m.c.Review
	r.Outcome, r.Opinion, r.DecidedOn = m.cmd.Outcome, opinion, m.today
	cl := m.c.startClock(m.cfg, ClockReReviewRequest, m.today, m.cfg.Deadlines.ReReviewRequestDays)
	m.c.State = StateReviewDecided
	m.emit(&eventsv1.CaseReviewDecided{ReviewingBody: r.Body, Outcome: outcome, Opinion: opinion, ReReviewRequestDue: cl.Due.String()})
	return nil
}

func (m *machine) requestReReview() error {
	f := apierror.Fields{}
	body := text(f, "reviewingBody", m.cmd.ReviewingBody, true, maxName)
	if err := f.Err(); err != nil {
		return err
	}
	within, err := m.requestWindow(ClockReReviewRequest, "36")
	if err != nil {
		return err
	}
	cl := m.c.startClock(m.cfg, ClockReReviewDecision, m.today, m.cfg.Deadlines.ReReviewDecisionDays)
	m.c.ReReview = &Review{Body: body, RequestedOn: m.today, WithinWindow: within}
	m.c.State = StateReReviewRequested
	m.emit(&eventsv1.CaseReReviewRequested{ReviewingBody: body, WithinWindow: within, DecisionDue: cl.Due.String()})
	return nil
}

// hearing records a 听证 of the re-review: its days are not counted against
// the decision clock (Art. 36), so the due date moves by them
// (case.hearing_held); the decision event carries the total hearing days.
// A hearing still to come may be recorded with its planned days.
func (m *machine) hearing() error {
	f := apierror.Fields{}
	rr := m.c.ReReview
	switch {
	case m.cmd.From.IsZero():
		f.Add("from", "required: the first day of the hearing")
	case m.cmd.From.Before(rr.RequestedOn):
		f.Add("from", "%s is before the re-review request (%s)", m.cmd.From, rr.RequestedOn)
	}
	switch {
	case m.cmd.To.IsZero():
		f.Add("to", "required: the last day of the hearing")
	case !m.cmd.From.IsZero() && m.cmd.To.Before(m.cmd.From):
		f.Add("to", "%s is before from (%s)", m.cmd.To, m.cmd.From)
	case !m.cmd.From.IsZero() && m.cmd.To.Sub(m.cmd.From) >= 365:
		f.Add("to", "a hearing of more than a year is not plausible")
	}
	if err := f.Err(); err != nil {
		return err
	}
	days := m.cmd.To.Sub(m.cmd.From) + 1
	cl := m.c.Running(ClockReReviewDecision)
	cl.Paused += days
	cl.recompute(m.cfg)
	rr.HearingDays += days
	m.emit(&eventsv1.CaseHearingHeld{ReviewingBody: rr.Body, From: m.cmd.From.String(), To: m.cmd.To.String(),
		Days: uint32(days), DecisionDue: cl.Due.String()})
	return nil
}

func (m *machine) decideReReview() error {
	outcome, opinion, err := m.decision()
	if err != nil {
		return err
	}
	m.c.stopClocks(ClockMet, m.today, ClockReReviewDecision)
	m.c.stopClocks(ClockStopped, m.today)
	r := m.c.ReReview
	r.Outcome, r.Opinion, r.DecidedOn = m.cmd.Outcome, opinion, m.today
	m.c.State = StateFinal
	m.emit(&eventsv1.CaseReReviewDecided{ReviewingBody: r.Body, Outcome: outcome, Opinion: opinion, HearingDays: uint32(r.HearingDays)})
	m.emit(&eventsv1.CaseFinal{Article: "36(3)"})
	return nil
}

func (m *machine) returnForRework() error {
	f := apierror.Fields{}
	maxDays := m.cfg.Deadlines.HandlingDaysFor(m.c.Category)
	if m.cmd.Days < 1 || m.cmd.Days > maxDays {
		f.Add("days", "must be 1 to %d (the handling clock of the case's category)", maxDays)
	}
	text(f, "reason", m.cmd.Reason, true, maxReason)
	if err := f.Err(); err != nil {
		return err
	}
	m.c.stopClocks(ClockStopped, m.today)
	m.c.Reply, m.c.Service, m.c.Ratings = nil, nil, nil
	cl := m.c.startClock(m.cfg, ClockHandling, m.today, m.cmd.Days)
	m.c.State = StateAccepted
	m.emit(&eventsv1.CaseReturned{Department: m.c.Department, NewDue: cl.Due.String()})
	return nil
}

func (m *machine) mediate() error {
	f := apierror.Fields{}
	kind := oneOf(f, "kind", m.cmd.MediationKind, MediationKinds)
	summary := text(f, "summary", m.cmd.Summary, true, maxSummary)
	if err := f.Err(); err != nil {
		return err
	}
	m.emit(&eventsv1.CaseMediated{Kind: kind, AgreementReached: m.cmd.AgreementReached, Summary: summary})
	if m.cmd.AgreementReached {
		m.c.stopClocks(ClockStopped, m.today)
		m.c.State, m.c.CloseReason = StateClosed, CloseMediated
		m.emit(&eventsv1.CaseClosed{Reason: eventsv1.CloseReason_CLOSE_REASON_MEDIATED})
	}
	return nil
}

func (m *machine) flag() error {
	f := apierror.Fields{}
	flag := oneOf(f, "flag", m.cmd.Flag, Flags)
	owner := text(f, "owner", m.cmd.Owner, m.cmd.Set && m.cmd.Flag == "leader-owned", 32)
	if err := f.Err(); err != nil {
		return err
	}
	cur := &m.c.JointMeeting
	if flag == eventsv1.CaseFlag_CASE_FLAG_LEADER_OWNED {
		cur = &m.c.LeaderOwned
		if m.cmd.Set {
			m.c.LeaderOwner = owner
		} else {
			m.c.LeaderOwner = ""
		}
	}
	if *cur == m.cmd.Set {
		return apierror.New(apierror.Conflict, "flag %s is already %s", m.cmd.Flag, map[bool]string{true: "set", false: "clear"}[m.cmd.Set])
	}
	*cur = m.cmd.Set
	m.emit(&eventsv1.CaseFlagged{Flag: flag, Set: m.cmd.Set, Owner: owner})
	return nil
}

func (m *machine) answerSupervision() error {
	f := apierror.Fields{}
	n := m.c.Notice(m.cmd.ActionEventID)
	if n == nil {
		f.Add("actionEventId", "no supervision notice %q on this case awaits a written answer", m.cmd.ActionEventID)
	}
	answer := text(f, "answer", m.cmd.Answer, true, maxText)
	if err := f.Err(); err != nil {
		return err
	}
	if !n.AnsweredOn.IsZero() {
		return apierror.New(apierror.Conflict, "supervision notice %s was answered on %s", n.EventID, n.AnsweredOn)
	}
	ev := m.emit(&eventsv1.CaseSupervisionAnswered{ActionEventId: n.EventID, Department: n.Department, Answer: answer})
	n.AnsweredOn, n.AnswerEventID = m.today, ev.EventId
	return nil
}
