package casemachine

import (
	"fmt"

	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "xinfang.io/proto/events/v1"
)

// countyDays is the county's period for a supervised clock of c under the
// rules in env (0 for clocks the rules do not set).
func countyDays(c *Case, k ClockKind, env Env) int {
	d := env.Config.Deadlines
	switch k {
	case ClockAcknowledge:
		return d.AcknowledgeDays
	case ClockHandling:
		return d.HandlingDaysFor(c.Category)
	case ClockReviewDecision:
		return d.ReviewDecisionDays
	case ClockReReviewDecision:
		return d.ReReviewDecisionDays
	}
	return 0
}

// Tighten applies a change of the county's rules (a hot-reloaded county
// file) to an open case: every running obligation — the supervised clocks a
// department or reviewing body owes — is recomputed under the new rules,
// its period being the shorter of the one it started with and the county's
// new one, plus the extension granted and the hearing days not counted, on
// the new calendar. The due date moves only when that makes it earlier:
// stricter rules apply at once, looser ones never lengthen a period already
// running. The petitioner's windows (review and re-review requests,
// evaluation) and the department's objection window keep the dates the
// petitioner or department was given. Each moved clock is a
// case.deadline_changed event; Result.Ignored when nothing moved. Imported
// cases are the county's records and are left as they are.
func Tighten(c *Case, env Env) *Result {
	if c.State.Terminal() || c.Imported {
		return &Result{Case: c, Ignored: true}
	}
	n := c.Clone()
	res := &Result{Case: n}
	for i := range n.Clocks {
		cl := &n.Clocks[i]
		if cl.Status != ClockRunning || !cl.Kind.Supervised() || cl.Unit != "days" {
			continue
		}
		days := cl.Days
		if nd := countyDays(n, cl.Kind, env); nd > 0 && nd < days {
			days = nd
		}
		due := env.Config.Calendar.AddDays(cl.Start, days+cl.ExtendedDays+cl.Paused)
		if !due.Before(cl.Due) {
			continue
		}
		prev := cl.Due
		cl.Days, cl.Due = days, due
		ev := newEnvelope(n, env, &eventsv1.CaseDeadlineChanged{Clock: cl.Kind.Proto(), Department: n.addressee(cl.Kind),
			PreviousDue: prev.String(), NewDue: due.String(), RulesVersion: env.Config.Version})
		ev.OccurredAt = timestamppb.New(env.Now)
		ev.Actor = SystemActor
		ev.Reason = fmt.Sprintf("县级规则调整：%s期限由%s提前至%s", clockNames[cl.Kind], prev, due)
		res.Events = append(res.Events, ev)
	}
	if len(res.Events) == 0 {
		return &Result{Case: c, Ignored: true}
	}
	if env.Now.After(n.LastAt) {
		n.LastAt = env.Now
	}
	return res
}
