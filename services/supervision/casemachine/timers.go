package casemachine

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"xinfang.io/county"
	eventsv1 "xinfang.io/proto/events/v1"
)

// TimerKind is what a timer does when it fires.
type TimerKind string

const (
	TimerReminder   TimerKind = "reminder"   // 提醒 while a supervised clock runs
	TimerOverdue    TimerKind = "overdue"    // 超期: the day after the due date
	TimerEscalation TimerKind = "escalation" // a step of the county's ladder after the breach
	TimerLapse      TimerKind = "lapse"      // a window ended unused
)

// Timer is a durable timer of a case. Key identifies it among all timers
// the case ever had, so that re-planning never re-creates one that fired.
type Timer struct {
	Key          string
	Kind         TimerKind
	Clock        ClockKind
	Step         int             // ladder index (0 for reminders and overdue)
	StepKind     county.StepKind // for escalation
	Due          county.Date     // the clock's due date the timer belongs to
	At           time.Time       // when it fires
	NotifyLeader bool
	order        int
}

// Plan returns the timers the case's running clocks need, in firing order.
// Supervised clocks get reminders (the county's percentElapsed and
// daysBefore, and ladder reminders with their own timing), an overdue
// notice the day after the due date and the ladder's steps afterDays after
// that; imported cases get none of these. Windows get a lapse timer the
// day after they end. Timers fire at the start of their day (China Standard
// Time). Reminders dated before from (the day of planning) are left out: a
// clock re-planned by an extension or a hearing does not send reminders
// for days already past; every other timer is kept, so a breach is never
// skipped.
func Plan(c *Case, cfg *county.Config, from county.Date) []Timer {
	if c.State.Terminal() {
		return nil
	}
	esc := cfg.Spec.Escalation.Effective()
	out := make([]Timer, 0, 8) // a supervised clock's plan: reminders, overdue, the ladder
	for _, cl := range c.Clocks {
		if cl.Status != ClockRunning {
			continue
		}
		switch {
		case cl.Kind.Supervised():
			if c.Imported {
				continue
			}
			out = append(out, reminders(cl, esc, from)...)
			breach := cl.Due.AddDays(1)
			out = append(out, Timer{Kind: TimerOverdue, Clock: cl.Kind, Due: cl.Due, At: breach.Start(), order: 1})
			for i, st := range esc.Ladder {
				if st.Step == county.StepReminder || st.AfterDays == nil {
					continue
				}
				out = append(out, Timer{Kind: TimerEscalation, Clock: cl.Kind, Step: i, StepKind: st.Step, Due: cl.Due,
					At: breach.AddDays(int(*st.AfterDays)).Start(), NotifyLeader: st.NotifyLeader, order: 2 + i})
			}
		case cl.Kind == ClockEvaluation:
			// Before a window closing on the same day, so that the ratings
			// lapse before the case closes.
			out = append(out, Timer{Kind: TimerLapse, Clock: cl.Kind, Due: cl.Due, At: cl.Due.AddDays(1).Start(), order: 50})
		case cl.Kind == ClockReviewRequest || cl.Kind == ClockReReviewRequest:
			out = append(out, Timer{Kind: TimerLapse, Clock: cl.Kind, Due: cl.Due, At: cl.Due.AddDays(1).Start(), order: 60})
		}
	}
	for i := range out {
		out[i].Key = timerKey(&out[i])
	}
	slices.SortStableFunc(out, func(a, b Timer) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return a.order - b.order
	})
	return out
}

// timerKey is "clock|due|kind|step|day it fires" (stored: the format never
// changes). Written by hand: with fmt it was half of planning a case, which
// happens whenever a case opens, its clocks move or a timer fires.
func timerKey(t *Timer) string {
	b := make([]byte, 0, 64)
	b = append(b, t.Clock...)
	b = append(b, '|')
	b = append(b, t.Due.String()...)
	b = append(b, '|')
	b = append(b, t.Kind...)
	b = append(b, '|')
	b = strconv.AppendInt(b, int64(t.Step), 10)
	b = append(b, '|')
	b = append(b, county.DateOf(t.At).String()...)
	return string(b)
}

func reminders(cl Clock, esc *county.Escalation, from county.Date) []Timer {
	total := cl.Due.Sub(cl.Start)
	leader := map[county.Date]bool{}
	var dates []county.Date
	add := func(d county.Date, notifyLeader bool) {
		if !d.After(cl.Start) || d.After(cl.Due) || d.Before(from) {
			return
		}
		if _, ok := leader[d]; !ok {
			dates = append(dates, d)
		}
		leader[d] = leader[d] || notifyLeader
	}
	if r := esc.Reminders; r != nil {
		for _, p := range r.PercentElapsed {
			add(cl.Start.AddDays(total*int(p)/100), false)
		}
		for _, b := range r.DaysBefore {
			add(cl.Due.AddDays(-int(b)), false)
		}
	}
	for _, st := range esc.Ladder {
		if st.Step != county.StepReminder {
			continue
		}
		if st.PercentElapsed != nil {
			add(cl.Start.AddDays(total*int(*st.PercentElapsed)/100), st.NotifyLeader)
		}
		if st.BeforeDays != nil {
			add(cl.Due.AddDays(-int(*st.BeforeDays)), st.NotifyLeader)
		}
	}
	slices.SortFunc(dates, func(a, b county.Date) int { return a.Compare(b) })
	out := make([]Timer, len(dates))
	for i, d := range dates {
		out[i] = Timer{Kind: TimerReminder, Clock: cl.Kind, Due: cl.Due, At: d.Start(), NotifyLeader: leader[d]}
	}
	return out
}

// Fire applies a due timer. A timer whose clock no longer runs with the
// same due date is stale and does nothing (Result.Ignored).
func Fire(c *Case, t Timer, env Env) (*Result, error) {
	var cl *Clock
	for i := range c.Clocks {
		x := &c.Clocks[i]
		if x.Kind == t.Clock && x.Status == ClockRunning && x.Due == t.Due {
			cl = x
		}
	}
	if cl == nil || c.State.Terminal() {
		return &Result{Case: c, Ignored: true}, nil
	}
	n := c.Clone()
	cl = n.Running(t.Clock)
	f := &firing{c: n, env: env, t: t, res: &Result{Case: n}, today: county.DateOf(t.At)}
	switch t.Kind {
	case TimerReminder, TimerOverdue, TimerEscalation:
		if c.Imported {
			return &Result{Case: c, Ignored: true}, nil
		}
		f.supervise(cl)
	case TimerLapse:
		f.lapse(cl)
	default:
		return nil, fmt.Errorf("fire: unknown timer kind %q", t.Kind)
	}
	if t.At.After(n.LastAt) {
		n.LastAt = t.At
	}
	return f.res, nil
}

type firing struct {
	c     *Case
	env   Env
	t     Timer
	today county.Date
	res   *Result
}

func (f *firing) emit(payload proto.Message, reason string) *eventsv1.Envelope {
	ev := newEnvelope(f.c, f.env, payload)
	ev.OccurredAt = timestamppb.New(f.t.At)
	ev.Actor = SystemActor
	ev.Imported = f.c.Imported
	ev.Reason = reason
	f.res.Events = append(f.res.Events, ev)
	return ev
}

var clockNames = map[ClockKind]string{
	ClockAcknowledge: "受理告知", ClockHandling: "办理", ClockReviewDecision: "复查",
	ClockReReviewDecision: "复核", ClockObjection: "异议", ClockReviewRequest: "复查申请",
	ClockReReviewRequest: "复核申请", ClockEvaluation: "满意度评价",
}

var stepKinds = map[county.StepKind]eventsv1.SupervisionActionKind{
	county.StepReminder:      eventsv1.SupervisionActionKind_SUPERVISION_ACTION_KIND_REMINDER,
	county.StepDubanNotice:   eventsv1.SupervisionActionKind_SUPERVISION_ACTION_KIND_DUBAN_NOTICE,
	county.StepInterview:     eventsv1.SupervisionActionKind_SUPERVISION_ACTION_KIND_INTERVIEW,
	county.StepCircular:      eventsv1.SupervisionActionKind_SUPERVISION_ACTION_KIND_CIRCULAR,
	county.StepListed:        eventsv1.SupervisionActionKind_SUPERVISION_ACTION_KIND_LISTED,
	county.StepRectification: eventsv1.SupervisionActionKind_SUPERVISION_ACTION_KIND_RECTIFICATION,
}

var stepNames = map[county.StepKind]string{
	county.StepDubanNotice: "督办通知", county.StepInterview: "约谈", county.StepCircular: "通报",
	county.StepListed: "挂牌督办", county.StepRectification: "限期整改",
}

// needsAnswer: the measures the supervised body answers in writing.
func needsAnswer(k county.StepKind) bool {
	return k == county.StepDubanNotice || k == county.StepListed || k == county.StepRectification
}

// addressee is the body a clock's obligation lies with.
func (c *Case) addressee(k ClockKind) string {
	switch k {
	case ClockReviewDecision:
		if c.Review != nil {
			return c.Review.Body
		}
	case ClockReReviewDecision:
		if c.ReReview != nil {
			return c.ReReview.Body
		}
	}
	return c.Department
}

func (f *firing) supervise(cl *Clock) {
	cfg := f.env.Config
	dept := f.c.addressee(cl.Kind)
	name := dept
	var leader string
	if d, ok := cfg.Department(dept); ok {
		name = d.Name
		if d.Leader != nil {
			leader = d.Leader.Title
		}
	}
	a := &eventsv1.CaseSupervisionAction{Clock: cl.Kind.Proto(), Department: dept, NotifyLeader: f.t.NotifyLeader, Due: cl.Due.String()}
	clock := clockNames[cl.Kind]
	switch f.t.Kind {
	case TimerReminder:
		a.Kind = eventsv1.SupervisionActionKind_SUPERVISION_ACTION_KIND_REMINDER
		a.Message = fmt.Sprintf("【提醒】%s：案件%s的%s期限为%s，尚余%d天。", name, f.c.ID, clock, cl.Due, cl.Due.Sub(f.today))
	case TimerOverdue:
		a.Kind = eventsv1.SupervisionActionKind_SUPERVISION_ACTION_KIND_OVERDUE
		a.Message = fmt.Sprintf("【超期】%s：案件%s的%s期限%s已过。", name, f.c.ID, clock, cl.Due)
	case TimerEscalation:
		a.Kind = stepKinds[f.t.StepKind]
		a.Step = uint32(f.t.Step)
		a.Message = fmt.Sprintf("【%s】%s：案件%s的%s期限%s已超期%d天（《信访工作条例》第三十九条、第四十条）。",
			stepNames[f.t.StepKind], name, f.c.ID, clock, cl.Due, f.today.Sub(cl.Due))
		if needsAnswer(f.t.StepKind) {
			// The county's answer window (escalation.answerWorkingDays),
			// read when the measure is issued: a later change of the rule
			// does not move an answer date already given.
			a.AnswerDue = cfg.Calendar.AddWorkingDays(f.today, cfg.Spec.Escalation.AnswerDays()).String()
			a.Message += fmt.Sprintf("请于%s前书面报告办理情况。", a.AnswerDue)
		}
	}
	if f.t.NotifyLeader && leader != "" {
		a.Message += fmt.Sprintf("抄送%s%s。", name, leader)
	}
	ev := f.emit(a, a.Message)
	if a.AnswerDue != "" {
		due, _ := county.ParseDate(a.AnswerDue)
		f.c.Notices = append(f.c.Notices, Notice{EventID: ev.EventId, Kind: string(f.t.StepKind), Clock: cl.Kind,
			Step: f.t.Step, Department: dept, IssuedOn: f.today, AnswerDue: due})
	}
}

func (f *firing) lapse(cl *Clock) {
	cl.Status, cl.Ended = ClockLapsed, cl.Due
	switch cl.Kind {
	case ClockEvaluation:
		for _, target := range []string{TargetBureau, TargetHandlingUnit} {
			if _, ok := f.c.Ratings[target]; ok {
				continue
			}
			if f.c.Ratings == nil {
				f.c.Ratings = map[string]string{}
			}
			f.c.Ratings[target] = RatingLapsed
			f.emit(&eventsv1.CaseEvaluated{Target: EvaluationTargets[target], Rating: eventsv1.Rating_RATING_LAPSED,
				Department: ratedDepartment(f.c, f.env.Config, target)}, "超期未评价")
		}
		if f.c.State == StateServed {
			f.c.State = StateEvaluated
		}
	case ClockReviewRequest, ClockReReviewRequest:
		// A case served and evaluated whose review window ends unused ran
		// its course (completed); a window ending anywhere else (after a
		// review decision, or before the evaluation ended) lapsed.
		reason, why := eventsv1.CloseReason_CLOSE_REASON_WINDOW_LAPSED, CloseWindowLapsed
		if cl.Kind == ClockReviewRequest && f.c.State == StateEvaluated {
			reason, why = eventsv1.CloseReason_CLOSE_REASON_COMPLETED, CloseCompleted
		}
		f.c.stopClocks(ClockStopped, f.today)
		f.c.State, f.c.CloseReason = StateClosed, why
		f.emit(&eventsv1.CaseClosed{Reason: reason},
			fmt.Sprintf("%s期限%s届满，未提出请求", clockNames[cl.Kind], cl.Due))
	}
}
