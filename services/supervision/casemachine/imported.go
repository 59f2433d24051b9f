package casemachine

import (
	"fmt"

	"xinfang.io/county"
	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/apierror"
)

// Imported applies one lifecycle event of onboarding history (intake's
// import emits them, marked imported, on the cases stream) to an imported
// case. The event is the record: the machine checks the transition and moves
// state and clocks exactly as for the live action, but its own events are
// dropped — the history already has them — and the imported event is kept as
// received. Events that are not staff actions (supervision actions, answers)
// only join the history.
func Imported(c *Case, ev *eventsv1.Envelope, env Env) (*Result, error) {
	if !c.Imported {
		return nil, apierror.New(apierror.Conflict, "case %s is live; imported history cannot change it", c.ID)
	}
	at := ev.GetOccurredAt().AsTime()
	if cl := ev.GetCaseClosed(); cl != nil {
		n := c.Clone()
		n.stopClocks(ClockStopped, county.DateOf(at))
		n.State = StateClosed
		if n.CloseReason == "" {
			n.CloseReason = closeReasons[cl.GetReason()]
		}
		if n.CloseReason == "" {
			n.CloseReason = CloseWindowLapsed
		}
		n.LastAt = at
		return &Result{Case: n, Received: ev}, nil
	}
	cmd, ok := commandOf(ev)
	if !ok {
		return &Result{Case: c.Clone(), Received: ev}, nil
	}
	cmd.At, cmd.Actor, cmd.Reason = at, ev.GetActor(), ev.GetReason()
	res, err := Act(c, cmd, env)
	if err != nil {
		return nil, fmt.Errorf("imported %s: %w", ev.TypeName(), err)
	}
	res.Events, res.Received = nil, ev
	return res, nil
}

// closeReasons are the close reasons of imported case.closed events.
var closeReasons = map[eventsv1.CloseReason]string{
	eventsv1.CloseReason_CLOSE_REASON_WINDOW_LAPSED: CloseWindowLapsed,
	eventsv1.CloseReason_CLOSE_REASON_COMPLETED:     CloseCompleted,
	eventsv1.CloseReason_CLOSE_REASON_WITHDRAWN:     CloseWithdrawn,
	eventsv1.CloseReason_CLOSE_REASON_MEDIATED:      CloseMediated,
	eventsv1.CloseReason_CLOSE_REASON_ROUTED_OUT:    CloseRoutedOut,
}

// nameOf is the API name of an enum value (the inverse of the maps above).
func nameOf[E comparable](m map[string]E, v E) string {
	for k, x := range m {
		if x == v {
			return k
		}
	}
	return ""
}

// dateOrZero reads an optional YYYY-MM-DD field; a missing or bad one means
// "the day of the act", as for a live action.
func dateOrZero(s string) county.Date {
	d, err := county.ParseDate(s)
	if err != nil {
		return county.Date{}
	}
	return d
}

// commandOf is the staff action an imported event records.
func commandOf(ev *eventsv1.Envelope) (Command, bool) {
	switch p := ev.PayloadMessage().(type) {
	case *eventsv1.CaseAcknowledged:
		return Command{Action: ActAcknowledge, NotifiedOn: dateOrZero(p.NotifiedOn)}, true
	case *eventsv1.CaseObjected:
		return Command{Action: ActObject}, true
	case *eventsv1.CaseAccepted:
		return Command{Action: ActAccept}, true
	case *eventsv1.CaseExtended:
		return Command{Action: ActExtend, Days: int(p.Days), PetitionerNotified: p.PetitionerNotified}, true
	case *eventsv1.CaseReplied:
		return Command{Action: ActReply, Outcome: nameOf(ReplyOutcomes, p.Outcome), Opinion: p.Opinion}, true
	case *eventsv1.CaseServed:
		return Command{Action: ActServe, Method: nameOf(ServiceMethods, p.Method), ServedOn: dateOrZero(p.ServedOn)}, true
	case *eventsv1.CaseEvaluated:
		return Command{Action: ActEvaluate, Target: nameOf(EvaluationTargets, p.Target), Rating: nameOf(Ratings, p.Rating)}, true
	case *eventsv1.CaseReviewRequested:
		return Command{Action: ActRequestReview, ReviewingBody: p.ReviewingBody}, true
	case *eventsv1.CaseReviewDecided:
		return Command{Action: ActDecideReview, Outcome: nameOf(ReviewOutcomes, p.Outcome), Opinion: p.Opinion}, true
	case *eventsv1.CaseReReviewRequested:
		return Command{Action: ActRequestReReview, ReviewingBody: p.ReviewingBody}, true
	case *eventsv1.CaseReReviewDecided:
		return Command{Action: ActDecideReReview, Outcome: nameOf(ReviewOutcomes, p.Outcome), Opinion: p.Opinion}, true
	case *eventsv1.CaseMediated:
		return Command{Action: ActMediate, MediationKind: nameOf(MediationKinds, p.Kind), AgreementReached: p.AgreementReached, Summary: p.Summary}, true
	case *eventsv1.CaseFlagged:
		return Command{Action: ActFlag, Flag: nameOf(Flags, p.Flag), Set: p.Set, Owner: p.Owner}, true
	case *eventsv1.CaseHearingHeld:
		return Command{Action: ActHearing, From: dateOrZero(p.From), To: dateOrZero(p.To)}, true
	case *eventsv1.CaseDeclined:
		return Command{Action: ActDecline, NotAcceptedReason: nameOf(NotAcceptedReasons, p.Reason), Article: p.Article,
			NotifiedOn: dateOrZero(p.NotifiedOn), LegalChannel: nameOf(LegalChannels, p.LegalChannel),
			Guidance: p.Guidance, LinkedCaseID: p.LinkedCaseId}, true
	case *eventsv1.CaseReturned:
		due, err := county.ParseDate(p.NewDue)
		if err != nil {
			return Command{}, false
		}
		return Command{Action: ActReturn, Days: due.Sub(county.DateOf(ev.GetOccurredAt().AsTime()))}, true
	}
	return Command{}, false
}
