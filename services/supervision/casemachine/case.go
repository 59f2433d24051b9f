// Package casemachine is the case state machine of the supervision service:
// the lifecycle of a 信访事项 after routing (信访工作条例 Arts 22–40), its
// statutory clocks and the timers that remind and escalate. It is pure: no
// I/O, no wall clock. Every function takes the county configuration and the
// current instant from its caller and returns the new case, the events to
// publish and the history to append; the supervision service stores them.
package casemachine

import (
	"slices"
	"time"

	"xinfang.io/county"
	eventsv1 "xinfang.io/proto/events/v1"
)

// State is where a case stands in its lifecycle.
type State string

const (
	StateAssigned          State = "assigned"            // routed to a lead department, awaiting 受理告知 or objection
	StateObjected          State = "objected"            // the department objected in time; back with routing
	StateAcknowledged      State = "acknowledged"        // 受理告知 sent
	StateAccepted          State = "accepted"            // handling; the handling clock runs
	StateExtended          State = "extended"            // handling, with the one extension of Art. 34
	StateReplied           State = "replied"             // written opinion (处理意见) issued
	StateServed            State = "served"              // opinion served (送达/签收); review window runs
	StateEvaluated         State = "evaluated"           // both satisfaction ratings in (or lapsed)
	StateReviewRequested   State = "review-requested"    // 复查 requested (Art. 35)
	StateReviewDecided     State = "review-decided"      // 复查意见 issued; re-review window runs
	StateReReviewRequested State = "re-review-requested" // 复核 requested (Art. 36)
	StateFinal             State = "final"               // 复核意见 issued: 不再受理 (Art. 36(3))
	StateClosed            State = "closed"              // the bureau's part is done (see CloseReason)
)

// States lists every state, in lifecycle order.
var States = []State{StateAssigned, StateObjected, StateAcknowledged, StateAccepted, StateExtended,
	StateReplied, StateServed, StateEvaluated, StateReviewRequested, StateReviewDecided,
	StateReReviewRequested, StateFinal, StateClosed}

// Terminal reports whether no lifecycle action can follow.
func (s State) Terminal() bool { return s == StateFinal || s == StateClosed }

// ClockKind names a statutory clock.
type ClockKind string

const (
	ClockAcknowledge      ClockKind = "acknowledge"        // Art. 23, from assignment
	ClockObjection        ClockKind = "objection"          // Art. 23, working days, from assignment
	ClockHandling         ClockKind = "handling"           // Art. 34, from acceptance (+ one extension)
	ClockReviewRequest    ClockKind = "review-request"     // Art. 35, from service
	ClockReviewDecision   ClockKind = "review-decision"    // Art. 35, from the request
	ClockReReviewRequest  ClockKind = "re-review-request"  // Art. 36, from the review decision
	ClockReReviewDecision ClockKind = "re-review-decision" // Art. 36, hearing days not counted
	ClockEvaluation       ClockKind = "evaluation"         // county setting, from service
)

var clockProto = map[ClockKind]eventsv1.Clock{
	ClockAcknowledge:      eventsv1.Clock_CLOCK_ACKNOWLEDGE,
	ClockObjection:        eventsv1.Clock_CLOCK_OBJECTION,
	ClockHandling:         eventsv1.Clock_CLOCK_HANDLING,
	ClockReviewRequest:    eventsv1.Clock_CLOCK_REVIEW_REQUEST,
	ClockReviewDecision:   eventsv1.Clock_CLOCK_REVIEW_DECISION,
	ClockReReviewRequest:  eventsv1.Clock_CLOCK_RE_REVIEW_REQUEST,
	ClockReReviewDecision: eventsv1.Clock_CLOCK_RE_REVIEW_DECISION,
	ClockEvaluation:       eventsv1.Clock_CLOCK_EVALUATION,
}

// Proto is the contract's enum value of the clock.
func (k ClockKind) Proto() eventsv1.Clock { return clockProto[k] }

// Supervised clocks are obligations of a department or reviewing body: they
// get reminders and, when breached, the escalation ladder. The others are
// windows of the petitioner or the department; their end only lapses.
func (k ClockKind) Supervised() bool {
	switch k {
	case ClockAcknowledge, ClockHandling, ClockReviewDecision, ClockReReviewDecision:
		return true
	}
	return false
}

// ClockStatus is where a clock stands.
type ClockStatus string

const (
	ClockRunning ClockStatus = "running"
	ClockMet     ClockStatus = "met"     // what it waited for happened (on Ended)
	ClockLapsed  ClockStatus = "lapsed"  // a window ended unused
	ClockStopped ClockStatus = "stopped" // made moot (objection, re-routing, return, closing)
)

// Clock is one statutory period of a case. Due is fixed when the clock
// starts (or is extended or paused) from the county calendar, so a later
// change of the county's rules never moves a deadline already running.
type Clock struct {
	Kind   ClockKind   `json:"clock"`
	Start  county.Date `json:"start"`
	Days   int         `json:"days"`
	Unit   string      `json:"unit"` // "days" or "working-days"
	Paused int         `json:"pausedDays,omitempty"`
	// ExtendedDays is the Art. 34 extension granted on the handling clock.
	ExtendedDays int         `json:"extendedDays,omitempty"`
	Due          county.Date `json:"due"`
	Status       ClockStatus `json:"status"`
	Ended        county.Date `json:"ended,omitzero"`
}

// Late reports whether the clock was met after its due date.
func (c *Clock) Late() bool { return c.Status == ClockMet && c.Ended.After(c.Due) }

// Notice is a supervision measure issued on the case that the supervised
// body must answer in writing (Art. 40).
type Notice struct {
	EventID       string      `json:"eventId"`
	Kind          string      `json:"kind"` // county.StepKind
	Clock         ClockKind   `json:"clock"`
	Step          int         `json:"step"`
	Department    string      `json:"department"`
	IssuedOn      county.Date `json:"issuedOn"`
	AnswerDue     county.Date `json:"answerDue"`
	AnsweredOn    county.Date `json:"answeredOn,omitzero"`
	AnswerEventID string      `json:"answerEventId,omitempty"`
}

// Reply is the written opinion of Art. 32.
type Reply struct {
	Outcome   string      `json:"outcome"` // supported | explained | not-supported
	Opinion   string      `json:"opinion"`
	RepliedOn county.Date `json:"repliedOn"`
}

// Service is how and when the opinion reached the petitioner (送达, 签收).
type Service struct {
	Method   string      `json:"method"`
	ServedOn county.Date `json:"servedOn"`
}

// Review is a 复查 (Art. 35) or 复核 (Art. 36).
type Review struct {
	Body         string      `json:"reviewingBody"`
	RequestedOn  county.Date `json:"requestedOn"`
	WithinWindow bool        `json:"withinWindow"`
	Outcome      string      `json:"outcome,omitempty"` // upheld | revoked | changed
	Opinion      string      `json:"opinion,omitempty"`
	DecidedOn    county.Date `json:"decidedOn,omitzero"`
	HearingDays  int         `json:"hearingDays,omitempty"`
}

// RoutedOut records a decision that took the case out of the bureau's
// hands: routing's (diverted, forwarded, not accepted) or the handling
// department's 不予受理 (declined).
type RoutedOut struct {
	Decision    string      `json:"decision"` // diverted | forwarded | not-accepted | declined
	On          county.Date `json:"on"`
	Body        string      `json:"body,omitempty"`        // diverted: the legal channel's body
	Guidance    string      `json:"guidance,omitempty"`    // diverted, declined: the text for the petitioner
	Destination string      `json:"destination,omitempty"` // forwarded
	Article     string      `json:"article,omitempty"`     // not accepted, declined: the article cited
	Reason      string      `json:"reason,omitempty"`
	// Declined: the department that decided, its statutory reason and, for
	// a legal-channel matter, the procedure.
	Department   string `json:"department,omitempty"`
	NotAccepted  string `json:"notAccepted,omitempty"`
	LegalChannel string `json:"legalChannel,omitempty"`
	LinkedCaseID string `json:"linkedCaseId,omitempty"`
}

// Case is the supervision service's record of one 信访事项.
type Case struct {
	ID       string          `json:"caseId"`
	County   string          `json:"county"`
	State    State           `json:"state"`
	Category county.Category `json:"category,omitempty"`
	// Department is the lead (主办) department; CoDepartments assist (协办).
	Department    string   `json:"department,omitempty"`
	CoDepartments []string `json:"coDepartments,omitempty"`
	// HiddenFrom are the departments routing excluded (accused, recused,
	// objected); an accusation is never shown to them (Art. 30(3), 46(5)).
	HiddenFrom []string    `json:"hiddenFrom,omitempty"`
	Attempt    uint32      `json:"attempt"`
	AssignedOn county.Date `json:"assignedOn,omitzero"`
	// Imported cases came in with onboarding history: no reminders, no
	// escalation (docs/services.md).
	Imported     bool    `json:"imported,omitempty"`
	LeaderOwned  bool    `json:"leaderOwned,omitempty"`
	LeaderOwner  string  `json:"leaderOwner,omitempty"`
	JointMeeting bool    `json:"jointMeeting,omitempty"`
	Clocks       []Clock `json:"clocks,omitempty"`
	Extended     bool    `json:"extended,omitempty"`
	// ExtensionReason is what the petitioner was told (Art. 34).
	ExtensionReason string      `json:"extensionReason,omitempty"`
	ExtendedOn      county.Date `json:"extendedOn,omitzero"`
	Reply           *Reply      `json:"reply,omitempty"`
	Service         *Service    `json:"service,omitempty"`
	// Ratings by target ("bureau", "handling-unit"): satisfied,
	// basically-satisfied, dissatisfied or lapsed (超期未评价).
	Ratings     map[string]string `json:"ratings,omitempty"`
	Review      *Review           `json:"review,omitempty"`
	ReReview    *Review           `json:"reReview,omitempty"`
	CloseReason string            `json:"closeReason,omitempty"`
	// RoutedOut is routing's decision when it took the case out of the
	// bureau's hands (diverted, forwarded, not accepted).
	RoutedOut *RoutedOut `json:"routedOut,omitempty"`
	Notices   []Notice   `json:"notices,omitempty"`
	// LastAt is when the latest history entry happened; imported actions
	// may not go back before it.
	LastAt time.Time `json:"lastAt"`
	// Seq counts history entries (the store numbers them).
	Seq int `json:"seq"`
}

// Clone returns a deep copy, so a refused transition leaves c untouched.
func (c *Case) Clone() *Case {
	n := *c
	n.CoDepartments = slices.Clone(c.CoDepartments)
	n.HiddenFrom = slices.Clone(c.HiddenFrom)
	n.Clocks = slices.Clone(c.Clocks)
	n.Notices = slices.Clone(c.Notices)
	if c.Ratings != nil {
		n.Ratings = make(map[string]string, len(c.Ratings))
		for k, v := range c.Ratings {
			n.Ratings[k] = v
		}
	}
	for _, p := range []struct{ dst, src **Review }{{&n.Review, &c.Review}, {&n.ReReview, &c.ReReview}} {
		if *p.src != nil {
			r := **p.src
			*p.dst = &r
		}
	}
	if c.Reply != nil {
		r := *c.Reply
		n.Reply = &r
	}
	if c.Service != nil {
		s := *c.Service
		n.Service = &s
	}
	if c.RoutedOut != nil {
		r := *c.RoutedOut
		n.RoutedOut = &r
	}
	return &n
}

// Running returns the running clock of kind k, or nil.
func (c *Case) Running(k ClockKind) *Clock {
	for i := len(c.Clocks) - 1; i >= 0; i-- {
		if c.Clocks[i].Kind == k && c.Clocks[i].Status == ClockRunning {
			return &c.Clocks[i]
		}
	}
	return nil
}

// NextDue is the earliest due date of a running supervised clock: what
// "overdue" and "due before" mean for a case. Zero when none runs.
func (c *Case) NextDue() county.Date {
	var d county.Date
	for _, cl := range c.Clocks {
		if cl.Status == ClockRunning && cl.Kind.Supervised() && (d.IsZero() || cl.Due.Before(d)) {
			d = cl.Due
		}
	}
	return d
}

// ReviewingBody is the body deciding the open review or re-review, if any.
func (c *Case) ReviewingBody() string {
	switch c.State {
	case StateReReviewRequested:
		return c.ReReview.Body
	case StateReviewRequested:
		return c.Review.Body
	}
	return ""
}

// Visibility lists the departments whose staff may see the case: the lead,
// the co-departments and the reviewing bodies. For an accusation the
// departments routing excluded (the accused) are taken out even if some
// rule put them in (Art. 30(3), 46(5)).
func (c *Case) Visibility() []string {
	var out []string
	add := func(d string) {
		if d == "" || slices.Contains(out, d) {
			return
		}
		if c.Category == county.CategoryAccusation && slices.Contains(c.HiddenFrom, d) {
			return
		}
		out = append(out, d)
	}
	add(c.Department)
	for _, d := range c.CoDepartments {
		add(d)
	}
	if c.Review != nil {
		add(c.Review.Body)
	}
	if c.ReReview != nil {
		add(c.ReReview.Body)
	}
	slices.Sort(out)
	return out
}

// VisibleTo reports whether department staff of dept may see the case.
func (c *Case) VisibleTo(dept string) bool { return slices.Contains(c.Visibility(), dept) }

// Notice returns the notice issued with event id id.
func (c *Case) Notice(id string) *Notice {
	for i := range c.Notices {
		if c.Notices[i].EventID == id {
			return &c.Notices[i]
		}
	}
	return nil
}

func (c *Case) stopClocks(status ClockStatus, on county.Date, kinds ...ClockKind) {
	for i := range c.Clocks {
		cl := &c.Clocks[i]
		if cl.Status != ClockRunning || (len(kinds) > 0 && !slices.Contains(kinds, cl.Kind)) {
			continue
		}
		cl.Status, cl.Ended = status, on
	}
}
