package routing

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"xinfang.io/county"
)

// Decide routes a petition under a ruleset. It is pure: the same ruleset,
// input and options give the same decision.
//
// Order: the statutory acceptance checks (unless re-routing) — a matter
// repeating a final case is not accepted (Art. 36(3)), one repeating a case
// still being handled is not accepted and linked to it (Art. 19(3)), an
// empty one is out of scope — then jurisdiction: a petition about a
// township that is not the county's is forwarded (转送) to the higher-level
// bureau, unless it names one of the county's departments or officials;
// then the county's rules in order, first match wins, then the default
// department. The guards apply throughout: an accusation never goes to the
// accused department — the one named, or the one whose leader or member is
// named — as lead or co-department (Art. 30(3), 46(5)) but to its
// supervising body, walking up past excluded bodies; a department whose
// leader a petition is about, and departments recused by staff or excluded
// after an objection (Art. 28(3), 23(3)), are never chosen, and a rule that
// would choose one is passed over. When no department may receive the case
// the decision is KindAwaitingManual: bureau staff must route it by hand.
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

	resp := rs.resolveRespondent(in.Respondent)
	township := strings.TrimSpace(in.Township)
	if id, ok := rs.townships[township]; ok {
		township = id
	} else if township != "" && len(rs.townships) > 0 && !resp.known && len(resp.officials) == 0 {
		return rs.forwardOutOfCounty(d, township, trace)
	}
	f := facts{
		category:   cat,
		text:       text,
		township:   township,
		respondent: resp.department,
		channel:    in.Channel,
		group:      in.Group || (rs.groupPersons > 0 && in.PersonCount >= rs.groupPersons),
	}
	excluded := rs.exclusions(resp, cat, o.Excluded, o.Recused)
	d.Attempt = max(o.Attempt, 1)
	d.Excluded = sortedKeys(excluded)
	d.Exclusions = exclusionList(excluded)
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
			if e, ex := excluded[c]; ex {
				d.Overrides = append(d.Overrides, Override{Guard: e.guard, RuleID: ruleID, Excluded: c,
					Note: fmt.Sprintf("co-department %s removed: %s", c, e.why)})
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
		if excluded[lead].guard != GuardAccusation {
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
			if e, ex := excluded[lead]; ex {
				if repl, found := replace(lead); found {
					d.Overrides = append(d.Overrides, Override{Guard: e.guard, RuleID: r.ID, Excluded: lead, Replacement: repl,
						Note: fmt.Sprintf("rule %s would send the accusation to the accused %s (%s); sent to its supervising body %s", r.ID, lead, e.why, repl)})
					rt.Overridden = fmt.Sprintf("lead %s is the accused; replaced by supervising body %s", lead, repl)
					trace.Rules = append(trace.Rules, rt)
					return finish(repl, r.Assign.Co, r.ID, ruleReason(r))
				}
				pending = append(pending, len(d.Overrides))
				d.Overrides = append(d.Overrides, Override{Guard: e.guard, RuleID: r.ID, Excluded: lead,
					Note: fmt.Sprintf("rule %s passed over: its lead %s is excluded (%s)", r.ID, lead, e.why)})
				rt.Overridden = fmt.Sprintf("lead %s is excluded (%s); rule passed over", lead, e.why)
				trace.Rules = append(trace.Rules, rt)
				continue
			}
			trace.Rules = append(trace.Rules, rt)
			return finish(lead, r.Assign.Co, r.ID, ruleReason(r))

		case r.Divert != nil:
			if e, ex := excluded[r.Divert.Department]; ex && r.Divert.Department != "" {
				pending = append(pending, len(d.Overrides))
				d.Overrides = append(d.Overrides, Override{Guard: e.guard, RuleID: r.ID, Excluded: r.Divert.Department,
					Note: fmt.Sprintf("rule %s passed over: it diverts to %s, which is excluded (%s)", r.ID, r.Divert.Department, e.why)})
				rt.Overridden = fmt.Sprintf("diverts to %s, which is excluded (%s); rule passed over", r.Divert.Department, e.why)
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
				Note: fmt.Sprintf("the default department %s is the accused (%s); sent to its supervising body %s", def, excluded[def].why, repl)})
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
				d.Overrides = append(d.Overrides, Override{Guard: excluded[def].guard, RuleID: DefaultRuleID, Excluded: def, Replacement: dep.ID,
					Note: fmt.Sprintf("the default department %s is excluded (%s); sent to %s", def, excluded[def].why, dep.ID)})
			}
			return finish(dep.ID, nil, DefaultRuleID, reason)
		}
	}
	// Nobody may receive it. No routing decision is made; the case waits
	// for bureau staff (manual 转办), who are alerted.
	d.Kind = KindAwaitingManual
	var ids []string
	for _, e := range d.Exclusions {
		ids = append(ids, e.Department+" ("+e.Guard+")")
	}
	d.Reason = fmt.Sprintf("no department may receive the case: every candidate is excluded (%s); bureau staff must route it by hand (manual 转办)",
		strings.Join(ids, ", "))
	return d, trace, nil
}

// OutOfCountyRuleID is the rule id of a decision that forwards a petition
// about a township outside the county; it can never collide with a county
// rule id.
const OutOfCountyRuleID = "(out-of-county)"

// higherBureauGeneric names the destination when the county file names no
// higherBureau.
const higherBureauGeneric = "上一级人民政府信访工作机构"

// forwardOutOfCounty forwards (转送) a petition whose township is not one of
// the county's: the matter arose elsewhere, and the body one level up
// (which covers every county below it) sends it on (属地管理, Art. 22).
func (rs *Ruleset) forwardOutOfCounty(d Decision, township string, t *Trace) (Decision, *Trace, error) {
	d.Kind, d.RuleID = KindForwarded, OutOfCountyRuleID
	d.Destination = rs.Config.Spec.HigherBureau
	how := "the county file's higherBureau"
	if d.Destination == "" {
		d.Destination, how = higherBureauGeneric, "the higher-level petition bureau (the county file names no higherBureau)"
	}
	d.Reason = fmt.Sprintf("township %q is not one of %s's townships: the matter arose outside the county; forwarded (转送) to %s, %s, for the county where it arose (Art. 22)",
		township, rs.Config.Spec.DisplayName, d.Destination, how)
	return divertedOrForwarded(d, t)
}

func divertedOrForwarded(d Decision, t *Trace) (Decision, *Trace, error) {
	// Only an assignment carries attempt and exclusions.
	d.Attempt, d.Excluded, d.Exclusions = 0, nil, nil
	return d, t, nil
}

// supervisor returns the first department up of's supervising chain that is
// not excluded. It stops at the end of the chain, at an unknown body and at
// a cycle.
func (rs *Ruleset) supervisor(of string, excluded map[string]exclusion) (string, bool) {
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

func sortedKeys[V any](m map[string]V) []string {
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
