package routing

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"xinfang.io/county"
)

// Kind is the kind of a routing decision; each is its own event type.
type Kind string

const (
	KindAssigned    Kind = "assigned"     // case.assigned: 转送 / 交办 to a lead department
	KindDiverted    Kind = "diverted"     // case.diverted: 诉访分离 to a legal channel
	KindForwarded   Kind = "forwarded"    // case.forwarded: not this county's matter
	KindNotAccepted Kind = "not-accepted" // case.not_accepted: statutory refusal
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

	// Assigned.
	Mode           Mode       `json:"mode,omitempty"`
	Lead           string     `json:"lead,omitempty"`
	Co             []string   `json:"co,omitempty"`
	AcknowledgeDue string     `json:"acknowledgeDue,omitempty"`
	Excluded       []string   `json:"excludedDepartments,omitempty"`
	Overrides      []Override `json:"overrides,omitempty"`
	Attempt        uint32     `json:"attempt,omitempty"`
	Manual         bool       `json:"manual,omitempty"`

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

// ErrNoDepartment means every department that could take the case is
// excluded; bureau staff must route it by hand.
var ErrNoDepartment = errors.New("no department may receive this case: every candidate is excluded")

// Decide routes a petition under a ruleset. It is pure: the same ruleset,
// input and options give the same decision.
//
// Order: the statutory acceptance checks (unless re-routing) — a matter
// repeating a final case is not accepted (Art. 36(3)), one repeating a case
// still being handled is not accepted and linked to it (Art. 19(3)), an
// empty one is out of scope — then the county's rules in order, first match
// wins, then the default department. The guards apply throughout: an
// accusation never goes to the accused department, as lead or co-department
// (Art. 30(3), 46(5)) but to its supervising body, walking up past excluded
// bodies; departments excluded after an objection (Art. 23(3)) or by recusal
// are never chosen, and a rule that would choose one is passed over.
func Decide(rs *Ruleset, in Input, o Options) (Decision, *Trace, error) {
	text := in.text()
	cat, src, _ := rs.classify(in.CategoryHint, text)
	if o.Category != "" {
		cat, src = o.Category, SourcePrevious
	}
	d := Decision{Category: cat, CategorySource: src, RulesVersion: rs.Version()}
	trace := &Trace{}

	if !o.Rerouting {
		switch {
		case o.Repeat.State == RepeatFinal:
			d.Kind, d.NotAccepted, d.Article, d.LinkedCase = KindNotAccepted, ReasonFinal, ArticleFinal, o.Repeat.CaseID
			d.Reason = fmt.Sprintf("same matter as case %s, which is final after re-review (复核): not accepted again (Art. 36(3))", o.Repeat.CaseID)
			return d, trace, nil
		case o.Repeat.State == RepeatOpen:
			d.Kind, d.NotAccepted, d.Article, d.LinkedCase = KindNotAccepted, ReasonWithinTimeLimit, ArticleWithinTimeLimit, o.Repeat.CaseID
			d.Reason = fmt.Sprintf("same matter as case %s, which is still being handled within its time limits (Art. 19(3))", o.Repeat.CaseID)
			return d, trace, nil
		case strings.TrimSpace(text) == "":
			d.Kind, d.NotAccepted, d.Article = KindNotAccepted, ReasonOutOfScope, ArticleOutOfScope
			d.Reason = "no request, facts or reasons stated: not a petition matter (Art. 19)"
			return d, trace, nil
		}
	}

	f := facts{
		category:   cat,
		text:       text,
		township:   strings.TrimSpace(in.Township),
		respondent: rs.resolveDepartment(in.Respondent),
		channel:    in.Channel,
		group:      in.Group || (rs.groupPersons > 0 && in.PersonCount >= rs.groupPersons),
	}
	excluded := make(map[string]string, len(o.Excluded)+1)
	for k, v := range o.Excluded {
		excluded[k] = v
	}
	if cat == county.CategoryAccusation && f.respondent != "" {
		excluded[f.respondent] = GuardAccusation
	}
	d.Attempt = max(o.Attempt, 1)
	d.Excluded = sortedKeys(excluded)
	// Skipped rules get their replacement once the decision is known.
	var pending []int

	finish := func(lead string, co []string, ruleID, reason string) (Decision, *Trace, error) {
		for _, i := range pending {
			d.Overrides[i].Replacement = lead
		}
		d.Kind, d.Lead, d.RuleID, d.Reason = KindAssigned, lead, ruleID, reason
		d.Co = nil
		for _, c := range co {
			if c == lead || slices.Contains(d.Co, c) {
				continue
			}
			if g, ex := excluded[c]; ex {
				d.Overrides = append(d.Overrides, Override{Guard: g, RuleID: ruleID, Excluded: c,
					Note: fmt.Sprintf("co-department %s removed: %s", c, guardNote(g))})
				continue
			}
			d.Co = append(d.Co, c)
		}
		d.Mode = ModeTransfer
		if f.group {
			d.Mode = ModeAssign
		}
		d.AcknowledgeDue = rs.Config.Calendar.AddDays(o.RoutingDate, rs.Config.Deadlines.AcknowledgeDays).String()
		return d, trace, nil
	}

	// replace finds who takes a case from an excluded lead: for the accused
	// department its supervising body (walking up past excluded bodies and
	// stopping at a cycle); for an objection or recusal nobody, so the rule
	// is passed over.
	replace := func(lead string) (string, bool) {
		if excluded[lead] != GuardAccusation {
			return "", false
		}
		return rs.supervisor(lead, excluded)
	}

	for i := range rs.rules {
		cr := &rs.rules[i]
		r := cr.r
		ok, why := cr.match(&f, o.Explain)
		rt := RuleTrace{ID: r.ID, Description: r.Description, Matched: ok, Reasons: why}
		if !ok {
			if o.Explain {
				trace.Rules = append(trace.Rules, rt)
			}
			continue
		}
		switch {
		case r.Assign != nil:
			lead := r.Assign.Lead
			if g, ex := excluded[lead]; ex {
				if repl, found := replace(lead); found {
					d.Overrides = append(d.Overrides, Override{Guard: g, RuleID: r.ID, Excluded: lead, Replacement: repl,
						Note: fmt.Sprintf("rule %s would send the accusation to the accused %s; sent to its supervising body %s", r.ID, lead, repl)})
					rt.Overridden = fmt.Sprintf("lead %s is the accused; replaced by supervising body %s", lead, repl)
					trace.Rules = append(trace.Rules, rt)
					return finish(repl, r.Assign.Co, r.ID, ruleReason(r))
				}
				pending = append(pending, len(d.Overrides))
				d.Overrides = append(d.Overrides, Override{Guard: g, RuleID: r.ID, Excluded: lead,
					Note: fmt.Sprintf("rule %s passed over: its lead %s is excluded (%s)", r.ID, lead, guardNote(g))})
				rt.Overridden = fmt.Sprintf("lead %s is excluded (%s); rule passed over", lead, guardNote(g))
				trace.Rules = append(trace.Rules, rt)
				continue
			}
			trace.Rules = append(trace.Rules, rt)
			return finish(lead, r.Assign.Co, r.ID, ruleReason(r))

		case r.Divert != nil:
			if g, ex := excluded[r.Divert.Department]; ex && r.Divert.Department != "" {
				pending = append(pending, len(d.Overrides))
				d.Overrides = append(d.Overrides, Override{Guard: g, RuleID: r.ID, Excluded: r.Divert.Department,
					Note: fmt.Sprintf("rule %s passed over: it diverts to %s, which is excluded (%s)", r.ID, r.Divert.Department, guardNote(g))})
				rt.Overridden = fmt.Sprintf("diverts to %s, which is excluded (%s); rule passed over", r.Divert.Department, guardNote(g))
				trace.Rules = append(trace.Rules, rt)
				continue
			}
			trace.Rules = append(trace.Rules, rt)
			d.Kind, d.RuleID = KindDiverted, r.ID
			d.LegalChannel, d.Body, d.BodyDepartment = r.Divert.LegalChannel, r.Divert.Body, r.Divert.Department
			d.Guidance = r.Divert.Guidance
			if d.Guidance == "" {
				d.Guidance = defaultGuidance(r.Divert.LegalChannel, r.Divert.Body)
			}
			d.Reason = ruleReason(r)
			return divertedOrForwarded(d, trace)

		case r.Forward != nil:
			trace.Rules = append(trace.Rules, rt)
			d.Kind, d.RuleID, d.Destination = KindForwarded, r.ID, r.Forward.To
			d.Reason = r.Forward.Reason
			if d.Reason == "" {
				d.Reason = ruleReason(r)
			}
			return divertedOrForwarded(d, trace)
		}
		// A rule without action cannot pass validation; treat it as no match.
	}

	def := rs.Config.Spec.DefaultDepartment
	reason := "no routing rule matched: the county's default department"
	if _, ex := excluded[def]; !ex && def != "" {
		return finish(def, nil, DefaultRuleID, reason)
	}
	if def != "" {
		if repl, found := replace(def); found {
			d.Overrides = append(d.Overrides, Override{Guard: GuardAccusation, RuleID: DefaultRuleID, Excluded: def, Replacement: repl,
				Note: fmt.Sprintf("the default department %s is the accused; sent to its supervising body %s", def, repl)})
			return finish(repl, nil, DefaultRuleID, reason)
		}
	}
	// Last resort: the bureau, or (for an accusation) a discipline body,
	// that is not excluded.
	for _, dep := range rs.Config.Spec.Departments {
		if _, ex := excluded[dep.ID]; ex {
			continue
		}
		if dep.Kind == county.KindBureau || (cat == county.CategoryAccusation && dep.Kind == county.KindDiscipline && slices.Contains(dep.Categories, county.CategoryAccusation)) {
			if def != "" {
				d.Overrides = append(d.Overrides, Override{Guard: excluded[def], RuleID: DefaultRuleID, Excluded: def, Replacement: dep.ID,
					Note: fmt.Sprintf("the default department %s is excluded (%s); sent to %s", def, guardNote(excluded[def]), dep.ID)})
			}
			return finish(dep.ID, nil, DefaultRuleID, reason)
		}
	}
	return Decision{}, trace, ErrNoDepartment
}

func divertedOrForwarded(d Decision, t *Trace) (Decision, *Trace, error) {
	// Only an assignment carries attempt and exclusions.
	d.Attempt, d.Excluded = 0, nil
	return d, t, nil
}

// supervisor returns the first department up of's supervising chain that is
// not excluded. It stops at the end of the chain, at an unknown body and at
// a cycle.
func (rs *Ruleset) supervisor(of string, excluded map[string]string) (string, bool) {
	seen := map[string]bool{of: true}
	cur := of
	for {
		dep, ok := rs.depts[cur]
		if !ok || dep.SupervisingBody == "" {
			return "", false
		}
		next := dep.SupervisingBody
		if seen[next] {
			return "", false
		}
		seen[next] = true
		if _, known := rs.depts[next]; !known {
			return "", false
		}
		if _, ex := excluded[next]; !ex {
			return next, true
		}
		cur = next
	}
}

// ManualAssign is a manual 转办 by bureau staff to lead (and co): it refuses
// a department the case must never reach — the accused (Art. 30(3)) and any
// excluded department — as a validation error naming the field.
func ManualAssign(rs *Ruleset, in Input, category county.Category, lead string, co []string, o Options) (Decision, map[string]string) {
	bad := map[string]string{}
	excluded := make(map[string]string, len(o.Excluded)+1)
	for k, v := range o.Excluded {
		excluded[k] = v
	}
	respondent := rs.resolveDepartment(in.Respondent)
	if category == county.CategoryAccusation && respondent != "" {
		excluded[respondent] = GuardAccusation
	}
	check := func(path, id string) {
		if _, ok := rs.depts[id]; !ok {
			bad[path] = fmt.Sprintf("department %q is not defined in county %s", id, rs.ID())
			return
		}
		if g, ex := excluded[id]; ex {
			switch g {
			case GuardAccusation:
				bad[path] = fmt.Sprintf("%s is the department this accusation accuses; it may never receive it (Art. 30(3), 46(5))", id)
			default:
				bad[path] = fmt.Sprintf("%s is excluded from this case (%s)", id, guardNote(g))
			}
		}
	}
	check("lead", lead)
	var cleanCo []string
	for i, c := range co {
		check(fmt.Sprintf("co[%d]", i), c)
		if c == lead {
			bad[fmt.Sprintf("co[%d]", i)] = fmt.Sprintf("%s is already the lead department", c)
		}
		if !slices.Contains(cleanCo, c) {
			cleanCo = append(cleanCo, c)
		}
	}
	if len(bad) > 0 {
		return Decision{}, bad
	}
	return Decision{
		Kind:           KindAssigned,
		Category:       category,
		RuleID:         ManualRuleID,
		RulesVersion:   rs.Version(),
		Mode:           ModeAssign,
		Lead:           lead,
		Co:             cleanCo,
		AcknowledgeDue: rs.Config.Calendar.AddDays(o.RoutingDate, rs.Config.Deadlines.AcknowledgeDays).String(),
		Excluded:       sortedKeys(excluded),
		Attempt:        max(o.Attempt, 1),
		Manual:         true,
	}, nil
}

func ruleReason(r *county.RoutingRule) string {
	if r.Description != "" {
		return "rule " + r.ID + ": " + r.Description
	}
	return "rule " + r.ID
}

func guardNote(g string) string {
	switch g {
	case GuardAccusation:
		return "the accused department, Art. 30(3), 46(5)"
	case GuardObjection:
		return "objected to the assignment, Art. 23(3)"
	case GuardRecusal:
		return "recused, Art. 28(3)"
	}
	return g
}

var channelNames = map[county.LegalChannel]string{
	county.LegalLitigation:                    "诉讼",
	county.LegalArbitration:                   "仲裁",
	county.LegalPartyDiscipline:               "党员申诉、申请复审",
	county.LegalAdministrativeReconsideration: "行政复议",
	county.LegalAdministrativeRuling:          "行政裁决",
	county.LegalAdministrativeConfirmation:    "行政确认",
	county.LegalAdministrativeLicensing:       "行政许可",
	county.LegalAdministrativePenalty:         "行政处罚",
	county.LegalOther:                         "法定途径",
}

// defaultGuidance is the written-notice text when the rule gives none.
func defaultGuidance(ch county.LegalChannel, body string) string {
	name := channelNames[ch]
	if name == "" {
		name = "法定途径"
	}
	return fmt.Sprintf("您反映的事项应当通过%s程序解决，请依法向%s提出。", name, body)
}

func sortedKeys(m map[string]string) []string {
	if len(m) == 0 {
		return nil
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// RoutingDate is the civil day of an instant in the county (China Standard
// Time).
func RoutingDate(t time.Time) county.Date { return county.DateOf(t) }
