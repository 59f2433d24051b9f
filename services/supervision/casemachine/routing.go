package casemachine

import (
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"xinfang.io/county"
	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/apierror"
)

// SystemActor is the actor of what the service does by itself (timers,
// closing a routed-out case).
var SystemActor = &eventsv1.Actor{Kind: eventsv1.ActorKind_ACTOR_KIND_SYSTEM, Id: "supervision"}

// Route applies a routing decision (the routing stream) to the case, which
// is nil when supervision has not seen it yet. case.assigned starts the case,
// or re-assigns it after an objection or a manual 转办 (a higher attempt);
// an attempt already applied is ignored. Diverted, forwarded and
// not-accepted decisions close the case (CLOSE_REASON_ROUTED_OUT).
// Refusals are *apierror.Error values: the consumer dead-letters them.
func Route(c *Case, in *eventsv1.Envelope, env Env) (*Result, error) {
	at := env.Now
	if in.GetOccurredAt() != nil {
		at = in.GetOccurredAt().AsTime()
	}
	if c != nil && c.ID != in.GetCaseId() {
		return nil, fmt.Errorf("route: event for case %s applied to case %s", in.GetCaseId(), c.ID)
	}
	switch p := in.GetPayload().(type) {
	case *eventsv1.Envelope_CaseAssigned:
		return assign(c, in, p.CaseAssigned, at, env)
	case *eventsv1.Envelope_CaseDiverted:
		d := p.CaseDiverted
		ro := &RoutedOut{Decision: "diverted", Body: d.GetBody(), Guidance: d.GetGuidance()}
		return routeOut(c, in, categoryOf(d.GetCategory()), at, env, fmt.Sprintf("诉访分离：引导至%s", d.GetBody()), ro)
	case *eventsv1.Envelope_CaseForwarded:
		d := p.CaseForwarded
		ro := &RoutedOut{Decision: "forwarded", Destination: d.GetDestination()}
		return routeOut(c, in, categoryOf(d.GetCategory()), at, env, fmt.Sprintf("转送%s", d.GetDestination()), ro)
	case *eventsv1.Envelope_CaseNotAccepted:
		d := p.CaseNotAccepted
		why := "不予受理"
		if d.GetArticle() != "" {
			why += fmt.Sprintf("（条例第%s条）", d.GetArticle())
		}
		return routeOut(c, in, "", at, env, why, &RoutedOut{Decision: "not-accepted", Article: d.GetArticle()})
	}
	return nil, apierror.New(apierror.Validation, "supervision does not consume %q events", in.TypeName())
}

func assign(c *Case, in *eventsv1.Envelope, a *eventsv1.CaseAssigned, at time.Time, env Env) (*Result, error) {
	f := apierror.Fields{}
	if a.GetLeadDepartment() == "" {
		f.Add("lead_department", "required")
	}
	cat := categoryOf(a.GetCategory())
	if cat == "" {
		f.Add("category", "required")
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	attempt := max(a.GetAttempt(), 1)
	var n *Case
	if c == nil {
		n = &Case{ID: in.GetCaseId(), County: in.GetCounty()}
	} else {
		switch {
		case attempt <= c.Attempt:
			return &Result{Case: c, Ignored: true}, nil
		case c.State == StateFinal:
			return nil, IllegalTransition(c, "reassign", "the case is final (Art. 36(3)); it cannot be routed again")
		case c.State == StateClosed && c.CloseReason != CloseRoutedOut && c.CloseReason != CloseDeclined:
			return nil, IllegalTransition(c, "reassign", "the case is closed ("+c.CloseReason+")")
		}
		n = c.Clone()
	}
	cfg, today := env.Config, county.DateOf(at)
	n.stopClocks(ClockStopped, today)
	n.State = StateAssigned
	n.Category = cat
	n.Department = a.GetLeadDepartment()
	n.CoDepartments = slices.Clone(a.GetCoDepartments())
	n.HiddenFrom = slices.Clone(a.GetExcludedDepartments())
	for _, o := range a.GetOverrides() {
		if x := o.GetExcludedDepartment(); x != "" && !slices.Contains(n.HiddenFrom, x) {
			n.HiddenFrom = append(n.HiddenFrom, x)
		}
	}
	n.Attempt = attempt
	n.AssignedOn = today
	n.Imported = in.GetImported()
	n.Extended, n.ExtensionReason, n.Reply, n.Service, n.Ratings, n.Review, n.ReReview = false, "", nil, nil, nil, nil, nil
	n.CloseReason, n.RoutedOut, n.ExtendedOn = "", nil, county.Date{}
	n.startClock(cfg, ClockAcknowledge, today, cfg.Deadlines.AcknowledgeDays)
	n.startWorkingDayClock(cfg, ClockObjection, today, cfg.Deadlines.ObjectionWorkingDays)
	if at.After(n.LastAt) {
		n.LastAt = at
	}
	return &Result{Case: n, Received: in}, nil
}

func routeOut(c *Case, in *eventsv1.Envelope, cat county.Category, at time.Time, env Env, why string, ro *RoutedOut) (*Result, error) {
	if c != nil && c.State.Terminal() {
		return &Result{Case: c, Ignored: true}, nil
	}
	var n *Case
	if c == nil {
		n = &Case{ID: in.GetCaseId(), County: in.GetCounty(), Category: cat}
	} else {
		n = c.Clone()
	}
	n.stopClocks(ClockStopped, county.DateOf(at))
	n.State, n.CloseReason = StateClosed, CloseRoutedOut
	ro.On, ro.Reason = county.DateOf(at), in.GetReason()
	n.RoutedOut = ro
	if at.After(n.LastAt) {
		n.LastAt = at
	}
	ev := newEnvelope(n, env, &eventsv1.CaseClosed{Reason: eventsv1.CloseReason_CLOSE_REASON_ROUTED_OUT})
	ev.OccurredAt = timestamppb.New(at)
	ev.Actor = SystemActor
	ev.Imported = in.GetImported()
	ev.CausationId = in.GetEventId()
	ev.Reason = why
	if r := in.GetReason(); r != "" {
		ev.Reason = why + "：" + r
	}
	return &Result{Case: n, Received: in, Events: []*eventsv1.Envelope{ev}}, nil
}
