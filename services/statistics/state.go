package statistics

import (
	"errors"
	"fmt"
	"strings"

	"xinfang.io/county"
	eventsv1 "xinfang.io/proto/events/v1"
)

// caseState is what statistics knows of one case (信访事项): one row of
// stat_cases. Every field is owned by one stream, so the state a case ends
// in does not depend on how the petitions, routing and cases topics
// interleave (they are separate partitions, ordered only within each):
// registration fields by petitions, routing fields by routing, the rest by
// cases. Days are YYYY-MM-DD in the county's civil time; "" is unknown.
type caseState struct {
	// petitions stream (petition.registered)
	Registered   bool   `json:"registered,omitempty"`
	Imported     bool   `json:"imported,omitempty"`
	ReceivedDay  string `json:"receivedDay,omitempty"`
	Channel      string `json:"channel,omitempty"`
	CategoryHint string `json:"categoryHint,omitempty"`
	Township     string `json:"township,omitempty"`
	Respondent   string `json:"respondent,omitempty"`
	Persons      int    `json:"persons,omitempty"`
	Group        bool   `json:"group,omitempty"`
	RepeatOf     string `json:"repeatOf,omitempty"`
	RoutingDue   string `json:"routingDue,omitempty"`
	// RoutingDueChanged: supervision moved the routing due day earlier
	// (case.deadline_changed, a stricter county rule); cases stream.
	RoutingDueChanged string `json:"routingDueChanged,omitempty"`
	// Matter is the matter (信访事项) the case belongs to for the
	// repeat-petitioner rule: the case itself, or for a repeat petition the
	// matter of the case it repeats (set when the registration is applied).
	Matter string `json:"matter,omitempty"`
	// HasRepeat: a later petition (another case's petition.registered with
	// repeat_of = this case) repeats this matter.
	HasRepeat bool `json:"hasRepeat,omitempty"`

	// routing stream: the latest decision wins (re-routing after an
	// objection or a manual 转办 replaces the earlier one).
	RouteKind string `json:"routeKind,omitempty"` // assigned | diverted | forwarded | not_accepted
	RouteDay  string `json:"routeDay,omitempty"`
	// FirstRouteDay is the day of the first routing decision; before a
	// re-routing the matter lay with a department the state no longer
	// names (see backlogIntervals).
	FirstRouteDay  string `json:"firstRouteDay,omitempty"`
	AssignMode     string `json:"assignMode,omitempty"` // transfer (转送) | assign (交办)
	LeadDept       string `json:"leadDept,omitempty"`
	CategoryRouted string `json:"categoryRouted,omitempty"`
	AckDue         string `json:"ackDue,omitempty"`
	LegalChannel   string `json:"legalChannel,omitempty"`

	// cases stream
	AckDay  string `json:"ackDay,omitempty"`
	AckDept string `json:"ackDept,omitempty"`
	// AckDueChanged / AckDueChangedDept: the acknowledgement due day of the
	// department's assignment moved earlier (case.deadline_changed).
	AckDueChanged     string `json:"ackDueChanged,omitempty"`
	AckDueChangedDept string `json:"ackDueChangedDept,omitempty"`
	AcceptedDay       string `json:"acceptedDay,omitempty"`
	// DeclinedDay / DeclinedDept: the department declined the matter (不予受理,
	// case.declined); it is not handled here.
	DeclinedDay      string `json:"declinedDay,omitempty"`
	DeclinedDept     string `json:"declinedDept,omitempty"`
	HandlingDue      string `json:"handlingDue,omitempty"`
	Extended         bool   `json:"extended,omitempty"`
	RepliedDay       string `json:"repliedDay,omitempty"`
	ClosedDay        string `json:"closedDay,omitempty"`
	CloseReason      string `json:"closeReason,omitempty"`
	FinalDay         string `json:"finalDay,omitempty"`
	ReviewDay        string `json:"reviewDay,omitempty"` // 复查 requested
	ReviewDue        string `json:"reviewDue,omitempty"`
	ReviewDecidedDay string `json:"reviewDecidedDay,omitempty"`
	ReviewOutcome    string `json:"reviewOutcome,omitempty"`
	ReReviewDay      string `json:"reReviewDay,omitempty"` // 复核 requested
	ReReviewDue      string `json:"reReviewDue,omitempty"`
	ReReviewDecided  string `json:"reReviewDecidedDay,omitempty"`
	ReReviewOutcome  string `json:"reReviewOutcome,omitempty"`
	BureauRating     string `json:"bureauRating,omitempty"`
	BureauRatingDay  string `json:"bureauRatingDay,omitempty"`
	UnitRating       string `json:"unitRating,omitempty"`
	UnitRatingDay    string `json:"unitRatingDay,omitempty"`
	UnitRatingDept   string `json:"unitRatingDept,omitempty"`
	MediationDay     string `json:"mediationDay,omitempty"`
	MediationAgreed  bool   `json:"mediationAgreed,omitempty"`
	LeaderOwned      bool   `json:"leaderOwned,omitempty"`
	// OverdueDept / OverdueClock: supervision declared a clock of this case
	// overdue (case.supervision_action of kind OVERDUE); cleared by the act
	// that satisfies that clock, by a re-routing objection or by closing.
	OverdueDept  string `json:"overdueDept,omitempty"`
	OverdueClock string `json:"overdueClock,omitempty"`

	// Seen holds the ids of the events applied to this case, "|id|id|…|"
	// (see seenKey): the consumer's idempotency record, written with the
	// state it produced.
	Seen string `json:"seen,omitempty"`
}

// Close reasons as stored.
const closeRoutedOut = "routed_out"

// category is the matter's category: routing's classification once known,
// the registration's hint before.
func (c *caseState) category() string {
	if c.CategoryRouted != "" {
		return c.CategoryRouted
	}
	return c.CategoryHint
}

func (c *caseState) firstTime() bool { return c.RepeatOf == "" }

// concludedDay is the day the matter was 办结: case.final, or case.closed for
// any reason but routed_out (a diverted, forwarded or not-accepted matter
// is not handled here). "" while not concluded.
func (c *caseState) concludedDay() string {
	if c.FinalDay != "" {
		return c.FinalDay
	}
	if c.ClosedDay != "" && c.CloseReason != closeRoutedOut {
		return c.ClosedDay
	}
	return ""
}

// handledDay is the day the handling obligation was met: the reply, or for
// a matter concluded without one (mediation agreement, withdrawal) its
// conclusion.
func (c *caseState) handledDay() string {
	if c.RepliedDay != "" {
		return c.RepliedDay
	}
	return c.concludedDay()
}

func (c *caseState) open() bool { return c.FinalDay == "" && c.ClosedDay == "" }

// satisfied reports a 满意 or 基本满意 rating.
func satisfied(r string) bool { return r == ratingSatisfied || r == ratingBasically }

// resolved: 化解 — the handling unit was rated 满意/基本满意, or a mediation
// or settlement agreement was reached.
func (c *caseState) resolved() bool { return satisfied(c.UnitRating) || c.MediationAgreed }

// ackedByLead: the acknowledgement (受理告知) came from the department the
// case is currently assigned to. An acknowledgement by an earlier
// department (before an objection re-routed the case) does not count.
func (c *caseState) ackedByLead() bool {
	return c.AckDay != "" && (c.AckDept == "" || c.AckDept == c.LeadDept)
}

// routingDue is the routing due day, moved earlier by a rules change.
func (c *caseState) routingDue() string {
	return earlier(c.RoutingDue, c.RoutingDueChanged)
}

// ackDue is the current assignment's acknowledgement due day, moved earlier
// by a rules change made while that department held the case.
func (c *caseState) ackDue() string {
	if c.AckDueChanged != "" && c.AckDueChangedDept == c.LeadDept {
		return earlier(c.AckDue, c.AckDueChanged)
	}
	return c.AckDue
}

// earlier is the earlier of two days, "" counting as none.
func earlier(a, b string) string {
	if a == "" || (b != "" && b < a) {
		return b
	}
	return a
}

// pendingDue is the due day of the obligation the case waits for, "" when
// it waits for nobody (closed, final, routed out, declined, or the
// petitioner's turn). Open cases whose pendingDue has passed are 积案.
func (c *caseState) pendingDue() string {
	if !c.Registered || !c.open() {
		return ""
	}
	switch {
	case c.ReReviewDay != "" && c.ReReviewDecided == "":
		return c.ReReviewDue
	case c.ReviewDay != "" && c.ReviewDecidedDay == "":
		return c.ReviewDue
	case c.RouteKind == "":
		return c.routingDue()
	case c.RouteKind != routeAssigned, c.DeclinedDay != "":
		return ""
	case c.HandlingDue != "":
		if c.RepliedDay == "" {
			return c.HandlingDue
		}
		return ""
	case !c.ackedByLead():
		return c.ackDue()
	}
	return ""
}

// pendingDept is the department the pending obligation lies with; the
// bureau's own key "" while the case waits for routing.
func (c *caseState) pendingDept() string {
	if c.RouteKind == "" {
		return ""
	}
	return c.LeadDept
}

// Route kinds as stored.
const (
	routeAssigned    = "assigned"
	routeDiverted    = "diverted"
	routeForwarded   = "forwarded"
	routeNotAccepted = "not_accepted"
)

// Ratings as stored.
const (
	ratingSatisfied    = "satisfied"
	ratingBasically    = "basically"
	ratingDissatisfied = "dissatisfied"
	ratingLapsed       = "lapsed"
)

var errRefused = errors.New("event refused")

func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errRefused, fmt.Sprintf(format, args...))
}

// eventDay is the civil day an event happened: its payload's own date when
// it carries one (given), else the day of occurred_at.
func eventDay(env *eventsv1.Envelope, given string) (string, error) {
	if given != "" {
		d, err := county.ParseDate(given)
		if err != nil {
			return "", refuse("%s: %v", env.GetType(), err)
		}
		return d.String(), nil
	}
	ts := env.GetOccurredAt()
	if ts == nil {
		ts = env.GetRecordedAt()
	}
	if ts == nil {
		return "", refuse("%s: no occurred_at", env.GetType())
	}
	return county.DateOf(ts.AsTime()).String(), nil
}

// checkDate validates an optional payload date.
func checkDate(env *eventsv1.Envelope, field, s string) (string, error) {
	if s == "" {
		return "", nil
	}
	d, err := county.ParseDate(s)
	if err != nil {
		return "", refuse("%s.%s: %v", env.GetType(), field, err)
	}
	return d.String(), nil
}

// apply changes c by the event. It is pure: side effects on other cases (a
// repeat petition marks its original) and event-count metrics are the
// caller's (see service.applyEvent).
func (c *caseState) apply(env *eventsv1.Envelope) error {
	switch e := env.PayloadMessage().(type) {
	case *eventsv1.PetitionRegistered:
		day := ""
		if e.GetReceivedAt() != nil {
			day = county.DateOf(e.GetReceivedAt().AsTime()).String()
		} else {
			var err error
			if day, err = eventDay(env, ""); err != nil {
				return err
			}
		}
		due, err := checkDate(env, "routing_due", e.GetRoutingDue())
		if err != nil {
			return err
		}
		c.Registered, c.Imported, c.ReceivedDay = true, env.GetImported(), day
		c.Channel = channelKeys[e.GetChannel()]
		c.CategoryHint = categoryKeys[e.GetCategoryHint()]
		c.Township = strings.TrimSpace(e.GetTownship())
		c.Respondent = strings.TrimSpace(e.GetRespondent())
		c.Persons = max(int(e.GetPersonCount()), 1)
		c.Group = e.GetGroup()
		c.RepeatOf = e.GetRepeatOf()
		c.RoutingDue = due
	case *eventsv1.CaseAssigned:
		day, err := eventDay(env, "")
		if err != nil {
			return err
		}
		due, err := checkDate(env, "acknowledge_due", e.GetAcknowledgeDue())
		if err != nil {
			return err
		}
		mode := "transfer"
		if e.GetMode() == eventsv1.AssignMode_ASSIGN_MODE_ASSIGN {
			mode = "assign"
		}
		c.setRoute(routeAssigned, day, categoryKeys[e.GetCategory()])
		c.AssignMode, c.LeadDept, c.AckDue = mode, e.GetLeadDepartment(), due
	case *eventsv1.CaseDiverted:
		day, err := eventDay(env, "")
		if err != nil {
			return err
		}
		c.setRoute(routeDiverted, day, categoryKeys[e.GetCategory()])
		c.LegalChannel = legalChannelKeys[e.GetLegalChannel()]
		if c.LegalChannel == "" {
			c.LegalChannel = "other-legal"
		}
	case *eventsv1.CaseForwarded:
		day, err := eventDay(env, "")
		if err != nil {
			return err
		}
		c.setRoute(routeForwarded, day, categoryKeys[e.GetCategory()])
	case *eventsv1.CaseNotAccepted:
		day, err := eventDay(env, "")
		if err != nil {
			return err
		}
		c.setRoute(routeNotAccepted, day, "")
	case *eventsv1.CaseAcknowledged:
		day, err := eventDay(env, e.GetNotifiedOn())
		if err != nil {
			return err
		}
		c.AckDay, c.AckDept = day, e.GetDepartment()
		c.clearOverdue("acknowledge")
	case *eventsv1.CaseObjected:
		if e.GetWithinWindow() {
			// Routing takes the case back: the acknowledgement clock of
			// this assignment no longer runs.
			c.clearOverdue("acknowledge")
		}
	case *eventsv1.CaseAccepted:
		due, err := checkDate(env, "handling_due", e.GetHandlingDue())
		if err != nil {
			return err
		}
		day, err := eventDay(env, "")
		if err != nil {
			return err
		}
		c.HandlingDue, c.AcceptedDay = due, day
		if c.AckDay == "" {
			// Acceptance without a separate notice: the acceptance is the
			// acknowledgement.
			c.AckDay, c.AckDept = day, e.GetDepartment()
		}
	case *eventsv1.CaseExtended:
		due, err := checkDate(env, "new_due", e.GetNewDue())
		if err != nil {
			return err
		}
		if due != "" {
			c.HandlingDue = due
		}
		c.Extended = true
	case *eventsv1.CaseReplied:
		day, err := eventDay(env, e.GetRepliedOn())
		if err != nil {
			return err
		}
		c.RepliedDay = day
		c.clearOverdue("handling")
	case *eventsv1.CaseReturned:
		due, err := checkDate(env, "new_due", e.GetNewDue())
		if err != nil {
			return err
		}
		// 退回重办: handled again against a new due day.
		c.HandlingDue, c.RepliedDay = due, ""
		c.clearOverdue("handling")
	case *eventsv1.CaseServed:
	case *eventsv1.CaseEvaluated:
		day, err := eventDay(env, "")
		if err != nil {
			return err
		}
		r := ratingKeys[e.GetRating()]
		if r == "" {
			return refuse("case.evaluated without a rating")
		}
		switch e.GetTarget() {
		case eventsv1.EvaluationTarget_EVALUATION_TARGET_BUREAU:
			c.BureauRating, c.BureauRatingDay = r, day
		case eventsv1.EvaluationTarget_EVALUATION_TARGET_HANDLING_UNIT:
			c.UnitRating, c.UnitRatingDay, c.UnitRatingDept = r, day, e.GetDepartment()
		default:
			return refuse("case.evaluated without a target")
		}
	case *eventsv1.CaseReviewRequested:
		day, err := eventDay(env, "")
		if err != nil {
			return err
		}
		due, err := checkDate(env, "decision_due", e.GetDecisionDue())
		if err != nil {
			return err
		}
		c.ReviewDay, c.ReviewDue = day, due
	case *eventsv1.CaseReviewDecided:
		day, err := eventDay(env, "")
		if err != nil {
			return err
		}
		c.ReviewDecidedDay, c.ReviewOutcome = day, reviewOutcomeKeys[e.GetOutcome()]
		c.clearOverdue("review")
	case *eventsv1.CaseReReviewRequested:
		day, err := eventDay(env, "")
		if err != nil {
			return err
		}
		due, err := checkDate(env, "decision_due", e.GetDecisionDue())
		if err != nil {
			return err
		}
		c.ReReviewDay, c.ReReviewDue = day, due
	case *eventsv1.CaseReReviewDecided:
		day, err := eventDay(env, "")
		if err != nil {
			return err
		}
		c.ReReviewDecided, c.ReReviewOutcome = day, reviewOutcomeKeys[e.GetOutcome()]
		c.clearOverdue("re_review")
	case *eventsv1.CaseMediated:
		day, err := eventDay(env, "")
		if err != nil {
			return err
		}
		c.MediationDay = day
		c.MediationAgreed = c.MediationAgreed || e.GetAgreementReached()
	case *eventsv1.CaseSupervisionAction:
		if e.GetKind() == eventsv1.SupervisionActionKind_SUPERVISION_ACTION_KIND_OVERDUE && c.open() {
			if clk, ok := overdueClocks[e.GetClock()]; ok && (clk != "routing" || c.RouteKind == "") {
				c.OverdueDept, c.OverdueClock = e.GetDepartment(), clk
			}
		}
	case *eventsv1.CaseSupervisionAnswered:
	case *eventsv1.CaseHearingHeld:
		// 听证 days do not count against the re-review decision (Art. 36):
		// its due day moves.
		due, err := checkDate(env, "decision_due", e.GetDecisionDue())
		if err != nil {
			return err
		}
		if due != "" {
			c.ReReviewDue = due
		}
	case *eventsv1.CaseDeclined:
		// The department's written 不予受理 is its notice under Art. 23: it
		// answers the acknowledgement clock, and the matter is not handled
		// here (a case.closed ROUTED_OUT follows).
		day, err := eventDay(env, e.GetNotifiedOn())
		if err != nil {
			return err
		}
		c.DeclinedDay, c.DeclinedDept = day, e.GetDepartment()
		if c.AckDay == "" {
			c.AckDay, c.AckDept = day, e.GetDepartment()
		}
		c.clearOverdue("acknowledge")
		c.clearOverdue("handling")
	case *eventsv1.CaseDeadlineChanged:
		due, err := checkDate(env, "new_due", e.GetNewDue())
		if err != nil || due == "" {
			return err
		}
		switch e.GetClock() {
		case eventsv1.Clock_CLOCK_ROUTING:
			c.RoutingDueChanged = due
		case eventsv1.Clock_CLOCK_ACKNOWLEDGE:
			c.AckDueChanged, c.AckDueChangedDept = due, e.GetDepartment()
		case eventsv1.Clock_CLOCK_HANDLING:
			c.HandlingDue = due
		case eventsv1.Clock_CLOCK_REVIEW_DECISION:
			c.ReviewDue = due
		case eventsv1.Clock_CLOCK_RE_REVIEW_DECISION:
			c.ReReviewDue = due
		}
	case *eventsv1.CaseFlagged:
		if e.GetFlag() == eventsv1.CaseFlag_CASE_FLAG_LEADER_OWNED {
			c.LeaderOwned = e.GetSet()
		}
	case *eventsv1.CaseClosed:
		day, err := eventDay(env, "")
		if err != nil {
			return err
		}
		c.ClosedDay, c.CloseReason = day, closeReasonKeys[e.GetReason()]
		if c.CloseReason == "" {
			c.CloseReason = "other"
		}
		c.OverdueDept, c.OverdueClock = "", ""
	case *eventsv1.CaseFinal:
		day, err := eventDay(env, "")
		if err != nil {
			return err
		}
		c.FinalDay = day
		c.OverdueDept, c.OverdueClock = "", ""
	case nil:
		return refuse("envelope %s has no payload this version knows", env.GetEventId())
	default:
		return refuse("statistics does not consume %s", env.GetType())
	}
	return nil
}

func (c *caseState) setRoute(kind, day, category string) {
	if c.RouteKind == routeAssigned && kind == routeAssigned && c.OverdueClock == "acknowledge" {
		c.OverdueDept, c.OverdueClock = "", "" // re-routed: a new acknowledgement clock
	}
	c.RouteKind, c.RouteDay = kind, day
	if c.FirstRouteDay == "" || day < c.FirstRouteDay {
		c.FirstRouteDay = day
	}
	if category != "" {
		c.CategoryRouted = category
	}
	if kind != routeAssigned {
		c.AssignMode, c.LeadDept, c.AckDue = "", "", ""
	}
	if kind != routeDiverted {
		c.LegalChannel = ""
	}
	if c.OverdueClock == "routing" {
		c.OverdueDept, c.OverdueClock = "", ""
	}
}

func (c *caseState) clearOverdue(clock string) {
	if c.OverdueClock == clock {
		c.OverdueDept, c.OverdueClock = "", ""
	}
}
