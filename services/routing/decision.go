package routing

import (
	"strings"

	"xinfang.io/county"
)

// Kind is the kind of a routing decision; each is its own event type.
type Kind string

const (
	KindAssigned    Kind = "assigned"     // case.assigned: 转送 / 交办 to a lead department
	KindDiverted    Kind = "diverted"     // case.diverted: 诉访分离 to a legal channel
	KindForwarded   Kind = "forwarded"    // case.forwarded: not this county's matter
	KindNotAccepted Kind = "not-accepted" // case.not_accepted: statutory refusal
	// KindAwaitingManual is no decision: every department that could take
	// the case is excluded (objections, recusal, the accusation guard), so
	// the case waits for bureau staff to route it by hand (POST
	// /v1/cases/{caseId}/reroute). It is published as alert.raised
	// (ALERT_KIND_ROUTING_NEEDS_STAFF) on the alerts stream.
	KindAwaitingManual Kind = "awaiting-manual"
	// KindHistory marks an imported case whose routing decision came with
	// the import (petition.registered.history_routed): routing decides nothing.
	KindHistory Kind = "history"
)

// Mode is how a matter is handed to its lead department (Art. 22).
type Mode string

const (
	// ModeTransfer is 转送: the routine hand-over to the body with authority.
	ModeTransfer Mode = "transfer"
	// ModeAssign is 交办: the bureau hands over an important matter and
	// requires a report of the result. Used for group petitions (Art. 20)
	// and for manual 转办 by bureau staff.
	ModeAssign Mode = "assign"
)

// NotAcceptedReason is a statutory reason for not accepting a matter.
type NotAcceptedReason string

const (
	// ReasonFinal: the same matter after 复核 is not accepted again (Art. 36(3)).
	ReasonFinal NotAcceptedReason = "final"
	// ReasonWithinTimeLimit: the same matter raised while its case is still
	// being handled within its time limits (Art. 19(3)).
	ReasonWithinTimeLimit NotAcceptedReason = "within-time-limit"
	// ReasonOutOfScope: no matter stated at all (Art. 19: request, facts,
	// reasons).
	ReasonOutOfScope NotAcceptedReason = "out-of-scope"
)

// Articles cited by not-accepted decisions.
const (
	ArticleFinal           = "36(3)"
	ArticleWithinTimeLimit = "19(3)"
	ArticleOutOfScope      = "19"
)

// Guards that can exclude a department from a case.
const (
	GuardAccusation = "accusation" // the accused department (Art. 30(3), 46(5))
	GuardObjection  = "objection"  // objected within 5 working days (Art. 23(3))
	GuardRecusal    = "recusal"    // excluded by bureau staff for an interest (Art. 28(3))
)

// Input is a registered petition as routing sees it.
type Input struct {
	CaseID       string          `json:"caseId,omitempty"`
	Channel      county.Channel  `json:"channel,omitempty"`
	CategoryHint county.Category `json:"categoryHint,omitempty"`
	Township     string          `json:"township,omitempty"`
	// Respondent is the department (id or full name) or body the matter is
	// about, when named.
	Respondent  string `json:"respondent,omitempty"`
	Title       string `json:"title,omitempty"`
	Request     string `json:"request,omitempty"`
	Facts       string `json:"facts,omitempty"`
	Reasons     string `json:"reasons,omitempty"`
	Group       bool   `json:"group,omitempty"`
	PersonCount int    `json:"personCount,omitempty"`
	// RepeatOf is the earlier case intake found this one repeats.
	RepeatOf string `json:"repeatOf,omitempty"`
}

// text is what keywords match: title, request, facts and reasons.
func (in *Input) text() string {
	return strings.ToLower(in.Title + "\n" + in.Request + "\n" + in.Facts + "\n" + in.Reasons)
}

// RepeatState is what routing knows of the case a petition repeats.
type RepeatState string

const (
	RepeatNone    RepeatState = ""        // no repeat, or the earlier case is unknown here
	RepeatOpen    RepeatState = "open"    // assigned and being handled within its time limits
	RepeatClosed  RepeatState = "closed"  // handled and closed without 复核, or routed out
	RepeatFinal   RepeatState = "final"   // final after 复核 (case.final)
	RepeatUnknown RepeatState = "unknown" // repeat_of names a case routing never saw
)

// Repeat is the resolved state of the case a petition repeats: CaseID is
// the case the chain of repeats leads to (the open or final one).
type Repeat struct {
	CaseID string      `json:"caseId,omitempty"`
	State  RepeatState `json:"state,omitempty"`
}

// Options are the routing state a decision depends on.
type Options struct {
	// RoutingDate is the day of the decision in the county's civil time;
	// the acknowledgement clock starts from it.
	RoutingDate county.Date
	// Excluded departments (id → guard) besides the accused one, which
	// Decide adds itself: objecting departments, recusals.
	Excluded map[string]string
	// Attempt is 1 for the first routing, +1 for each re-routing.
	Attempt uint32
	// Rerouting skips the statutory acceptance checks (the case was
	// accepted into routing already) and routes again.
	Rerouting bool
	// Repeat is the state of the case the petition repeats.
	Repeat Repeat
	// Category, when set, is kept instead of classifying again: a case
	// routed again keeps the category of its first routing.
	Category county.Category
	// Explain records, for every rule tried, why it did not match.
	Explain bool
	// Recused are officials bureau staff recused by name (Art. 28(3)): the
	// departments they lead or belong to are excluded.
	Recused []string
}

// Override is a guard that changed what a rule would have decided.
type Override struct {
	Guard       string `json:"guard"`
	RuleID      string `json:"ruleId"`
	Excluded    string `json:"excludedDepartment"`
	Replacement string `json:"replacement,omitempty"`
	Note        string `json:"note,omitempty"`
}

// Decision is exactly one routing outcome.
type Decision struct {
	Kind           Kind            `json:"kind"`
	Category       county.Category `json:"category"`
	CategorySource CategorySource  `json:"categorySource,omitempty"`
	// RuleID is the rule that decided, DefaultRuleID, ManualRuleID, or
	// empty for a statutory not-accepted decision.
	RuleID       string `json:"ruleId,omitempty"`
	RulesVersion string `json:"rulesVersion"`
	// Reason explains the decision in one line (the envelope's reason).
	Reason string `json:"reason"`

	// Assigned (Excluded, Exclusions, Overrides and Attempt also for
	// awaiting-manual).
	Mode           Mode     `json:"mode,omitempty"`
	Lead           string   `json:"lead,omitempty"`
	Co             []string `json:"co,omitempty"`
	AcknowledgeDue string   `json:"acknowledgeDue,omitempty"`
	Excluded       []string `json:"excludedDepartments,omitempty"`
	// Exclusions say why each excluded department may not receive the
	// case (the accused official, the recused leader, the objection).
	Exclusions []Exclusion `json:"exclusions,omitempty"`
	Overrides  []Override  `json:"overrides,omitempty"`
	Attempt    uint32      `json:"attempt,omitempty"`
	Manual     bool        `json:"manual,omitempty"`

	// Diverted.
	LegalChannel   county.LegalChannel `json:"legalChannel,omitempty"`
	Body           string              `json:"body,omitempty"`
	BodyDepartment string              `json:"bodyDepartment,omitempty"`
	Guidance       string              `json:"guidance,omitempty"`

	// Forwarded.
	Destination string `json:"destination,omitempty"`

	// Not accepted.
	NotAccepted NotAcceptedReason `json:"notAcceptedReason,omitempty"`
	Article     string            `json:"article,omitempty"`
	LinkedCase  string            `json:"linkedCaseId,omitempty"`
}

// RuleTrace says what one rule made of the petition.
type RuleTrace struct {
	ID          string   `json:"id"`
	Description string   `json:"description,omitempty"`
	Matched     bool     `json:"matched"`
	Reasons     []string `json:"reasons,omitempty"`
	// Overridden says why a matching rule did not decide (a guard).
	Overridden string `json:"overridden,omitempty"`
}

// Trace explains a decision: the rules tried in order, up to the deciding one.
type Trace struct {
	Rules []RuleTrace `json:"rules"`
}
