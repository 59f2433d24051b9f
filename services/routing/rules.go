package routing

import (
	"fmt"
	"slices"
	"strings"

	"xinfang.io/county"
)

// DefaultRuleID is recorded as the rule id of a decision no routing rule
// made: the county's default department took the matter. County rule ids
// match [a-z0-9-], so this id can never collide with one.
const DefaultRuleID = "(default)"

// ManualRuleID is the rule id of a manual 转办 by bureau staff.
const ManualRuleID = "(manual)"

// Ruleset is a county configuration compiled for routing: departments
// indexed by id and name, keywords lower-cased, the classification rules
// picked out. It is immutable and built once per rules version (see Rules),
// so a decision costs no parsing.
type Ruleset struct {
	Config *county.Config

	depts        map[string]*county.Department
	byName       map[string]string // full name, or name without the county's prefix → id
	rules        []compiledRule
	groupPersons int

	people    []official        // leaders by name and members, in file order
	nameForms []nameForm        // departments' names as written, longest first
	townships map[string]string // township id or name → id
}

type compiledRule struct {
	r             *county.RoutingRule
	any, all, non []string // lower-cased keywords
	classifies    county.Category
}

// ID and Version of the county rules.
func (rs *Ruleset) ID() string      { return rs.Config.ID }
func (rs *Ruleset) Version() string { return rs.Config.Version }

// Compile builds the routing form of cfg and checks what routing needs
// beyond county validation: the supervising bodies must not form a cycle,
// since an accusation against a body in a cycle could be sent round it
// instead of up to a body that is not involved (Art. 30(3)). The problems
// are reported as a *county.ValidationError with field paths.
func Compile(cfg *county.Config) (*Ruleset, error) {
	rs := compile(cfg)
	if err := rs.checkSupervision(); err != nil {
		return nil, err
	}
	return rs, nil
}

// compile builds the ruleset without checks; the decision engine stays safe
// on any input (cycles are cut while walking), which the property tests use.
func compile(cfg *county.Config) *Ruleset {
	rs := &Ruleset{
		Config:       cfg,
		depts:        make(map[string]*county.Department, len(cfg.Spec.Departments)),
		byName:       make(map[string]string, len(cfg.Spec.Departments)),
		rules:        make([]compiledRule, len(cfg.Spec.RoutingRules)),
		groupPersons: cfg.Spec.Warnings.Effective().GroupPersons,
		townships:    make(map[string]string, 2*len(cfg.Spec.Townships)),
	}
	for i := range cfg.Spec.Departments {
		d := &cfg.Spec.Departments[i]
		if _, dup := rs.depts[d.ID]; !dup {
			rs.depts[d.ID] = d
		}
		if d.Name != "" {
			rs.byName[d.Name] = d.ID
		}
	}
	for i := range cfg.Spec.RoutingRules {
		r := &cfg.Spec.RoutingRules[i]
		cr := compiledRule{r: r}
		if k := r.Match.Keywords; k != nil {
			cr.any, cr.all, cr.non = lower(k.Any), lower(k.All), lower(k.None)
		}
		// A rule with positive keywords and exactly one category says what
		// kind of matter those words describe; classification uses it.
		if len(r.Match.Categories) == 1 && len(cr.any)+len(cr.all) > 0 {
			cr.classifies = r.Match.Categories[0]
		}
		rs.rules[i] = cr
	}
	rs.indexPeople()
	return rs
}

func lower(words []string) []string {
	out := make([]string, 0, len(words))
	for _, w := range words {
		if w = strings.ToLower(w); w != "" {
			out = append(out, w)
		}
	}
	return out
}

// checkSupervision reports cycles among supervising bodies, once per cycle.
func (rs *Ruleset) checkSupervision() error {
	var errs []county.FieldError
	reported := map[string]bool{}
	index := map[string]int{}
	for i, d := range rs.Config.Spec.Departments {
		if _, ok := index[d.ID]; !ok {
			index[d.ID] = i
		}
	}
	for i, d := range rs.Config.Spec.Departments {
		path := []string{d.ID}
		seen := map[string]int{d.ID: 0}
		cur := d.ID
		for {
			dep := rs.depts[cur]
			if dep == nil || dep.SupervisingBody == "" {
				break
			}
			next := dep.SupervisingBody
			if at, ok := seen[next]; ok {
				cycle := append(path[at:], next)
				key := canonicalCycle(cycle[:len(cycle)-1])
				if !reported[key] && at == 0 {
					reported[key] = true
					errs = append(errs, county.FieldError{
						Path: fmt.Sprintf("departments[%d].supervisingBody", i),
						Message: fmt.Sprintf("supervising bodies form a cycle (%s): an accusation against one of them would have no uninvolved body to go to (Art. 30(3)); end the chain at a body without supervisingBody",
							strings.Join(cycle, " → ")),
					})
				}
				break
			}
			seen[next] = len(path)
			path = append(path, next)
			cur = next
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return &county.ValidationError{Errors: errs}
}

// canonicalCycle names a cycle independently of where it was entered.
func canonicalCycle(ids []string) string {
	s := slices.Clone(ids)
	slices.Sort(s)
	return strings.Join(s, ",")
}

// Department returns a department of the county.
func (rs *Ruleset) Department(id string) (*county.Department, bool) {
	d, ok := rs.depts[id]
	return d, ok
}

// facts are the petition's properties rules match on.
type facts struct {
	category   county.Category
	text       string // lower-cased title, request, facts and reasons
	township   string
	respondent string // resolved department id, or the respondent as given
	channel    county.Channel
	group      bool
}

// match reports whether the rule's conditions hold. With explain it lists
// every condition that failed; without, it stops at the first.
func (cr *compiledRule) match(f *facts, explain bool) (bool, []string) {
	if !explain {
		return cr.holds(f), nil
	}
	m := &cr.r.Match
	var why []string
	fail := func(format string, args ...any) bool {
		if explain {
			why = append(why, fmt.Sprintf(format, args...))
		}
		return !explain // stop early unless explaining
	}
	if len(m.Categories) > 0 && !slices.Contains(m.Categories, f.category) {
		if fail("category %s is not one of %v", f.category, m.Categories) {
			return false, nil
		}
	}
	if len(cr.any) > 0 && !slices.ContainsFunc(cr.any, func(k string) bool { return strings.Contains(f.text, k) }) {
		if fail("none of keywords.any %v occurs in the text", m.Keywords.Any) {
			return false, nil
		}
	}
	for i, k := range cr.all {
		if !strings.Contains(f.text, k) {
			if fail("keywords.all: %q does not occur in the text", m.Keywords.All[i]) {
				return false, nil
			}
		}
	}
	for i, k := range cr.non {
		if strings.Contains(f.text, k) {
			if fail("keywords.none: %q occurs in the text", m.Keywords.None[i]) {
				return false, nil
			}
		}
	}
	if len(m.Townships) > 0 && !slices.Contains(m.Townships, f.township) {
		if fail("township %s is not one of %v", orNone(f.township), m.Townships) {
			return false, nil
		}
	}
	if len(m.Respondents) > 0 && !slices.Contains(m.Respondents, f.respondent) {
		if fail("respondent %s is not one of %v", orNone(f.respondent), m.Respondents) {
			return false, nil
		}
	}
	if len(m.Channels) > 0 && !slices.Contains(m.Channels, f.channel) {
		if fail("channel %s is not one of %v", orNone(string(f.channel)), m.Channels) {
			return false, nil
		}
	}
	if m.Group != nil && *m.Group != f.group {
		msg := "the petition is not a group petition"
		if f.group {
			msg = "the petition is a group petition"
		}
		if fail("group: %s", msg) {
			return false, nil
		}
	}
	return len(why) == 0, why
}

// holds is match without explanation, on the hot path of every decision.
func (cr *compiledRule) holds(f *facts) bool {
	m := &cr.r.Match
	if len(m.Categories) > 0 && !slices.Contains(m.Categories, f.category) {
		return false
	}
	if len(m.Townships) > 0 && !slices.Contains(m.Townships, f.township) {
		return false
	}
	if len(m.Respondents) > 0 && !slices.Contains(m.Respondents, f.respondent) {
		return false
	}
	if len(m.Channels) > 0 && !slices.Contains(m.Channels, f.channel) {
		return false
	}
	if m.Group != nil && *m.Group != f.group {
		return false
	}
	return cr.keywordsHold(f.text)
}

func orNone(s string) string {
	if s == "" {
		return "(none given)"
	}
	return s
}
