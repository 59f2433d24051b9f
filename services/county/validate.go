package county

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// FieldError is one problem, located by a JSON path relative to the spec,
// e.g. routingRules[3].assign.lead.
//
// +kubebuilder:object:generate=false
type FieldError struct {
	Path    string
	Message string
}

func (e FieldError) Error() string { return e.Path + ": " + e.Message }

// ValidationError lists every problem found, so that whoever edits a County
// fixes them in one round rather than one per apply.
//
// +kubebuilder:object:generate=false
type ValidationError struct {
	Errors []FieldError
}

func (e *ValidationError) Error() string {
	msgs := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		msgs[i] = fe.Error()
	}
	noun := "problems"
	if len(msgs) == 1 {
		noun = "problem"
	}
	return fmt.Sprintf("invalid county configuration (%d %s): %s", len(msgs), noun, strings.Join(msgs, "; "))
}

// The patterns of the kubebuilder markers, compiled once.
var (
	idPattern           = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	divisionCodePattern = regexp.MustCompile(`^[1-9][0-9]{5}$`)
	datePattern         = regexp.MustCompile(`^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$`)
)

// Validate checks everything the CRD checks (schema limits and CEL rules)
// and the cross-references CEL cannot afford, and returns a
// *ValidationError listing all problems, or nil.
func (s *Spec) Validate() error {
	v := &validator{}
	v.spec(s)
	return v.err()
}

type validator struct {
	errs []FieldError
}

func (v *validator) err() error {
	if len(v.errs) == 0 {
		return nil
	}
	return &ValidationError{Errors: v.errs}
}

func (v *validator) addf(path, format string, args ...any) {
	v.errs = append(v.errs, FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
}

// str checks a string against the MinLength (via required), MaxLength and
// Pattern markers of its field. An optional empty string is absent.
func (v *validator) str(path, s string, required bool, maxLen int, re *regexp.Regexp) {
	if s == "" {
		if required {
			v.addf(path, "required")
		}
		return
	}
	if n := utf8.RuneCountInString(s); n > maxLen {
		v.addf(path, "must be at most %d characters, has %d", maxLen, n)
	}
	if re != nil && !re.MatchString(s) {
		v.addf(path, "%q must match %s", s, re)
	}
}

func (v *validator) id(path, s string, required bool) {
	v.str(path, s, required, 63, idPattern)
}

func (v *validator) maxItems(path string, n, max int) {
	if n > max {
		v.addf(path, "must have at most %d items, has %d", max, n)
	}
}

func (v *validator) rangeInt(path string, n int64, min, max int64) {
	if n < min {
		v.addf(path, "must be at least %d, is %d", min, n)
	} else if n > max {
		v.addf(path, "must be at most %d, is %d", max, n)
	}
}

func (v *validator) optInt(path string, p *int32, min, max int64) {
	if p != nil {
		v.rangeInt(path, int64(*p), min, max)
	}
}

// set checks a +listType=set list for duplicates, as the API server does.
func set[T comparable](v *validator, path string, items []T) {
	seen := map[T]bool{}
	for i, x := range items {
		if seen[x] {
			v.addf(fmt.Sprintf("%s[%d]", path, i), "duplicate value %v", x)
		}
		seen[x] = true
	}
}

func enum[T ~string](v *validator, path string, x T, allowed ...T) {
	if !slices.Contains(allowed, x) {
		names := make([]string, len(allowed))
		for i, a := range allowed {
			names[i] = string(a)
		}
		v.addf(path, "%q is not one of %s", x, strings.Join(names, ", "))
	}
}

var (
	// Validation keeps its own copy of the exported Categories, which a
	// careless caller could append to.
	allCategories = []Category{CategoryComplaint, CategorySuggestion, CategoryAccusation}
	allKinds      = []DepartmentKind{KindBureau, KindDepartment, KindTownship, KindCourt, KindProcuratorate, KindDiscipline}
	allChannels   = []Channel{ChannelWeb, ChannelLetter, ChannelVisit, ChannelPhone, ChannelFax}
	allLegal      = []LegalChannel{LegalLitigation, LegalArbitration, LegalPartyDiscipline, LegalAdministrativeReconsideration, LegalAdministrativeRuling, LegalAdministrativeConfirmation, LegalAdministrativeLicensing, LegalAdministrativePenalty, LegalOther}
	allStepKinds  = []StepKind{StepReminder, StepDubanNotice, StepInterview, StepCircular, StepListed, StepRectification}
)

func (v *validator) categories(path string, cs []Category, min, max int) {
	if len(cs) < min {
		v.addf(path, "must have at least %d item", min)
	}
	v.maxItems(path, len(cs), max)
	for i, c := range cs {
		enum(v, fmt.Sprintf("%s[%d]", path, i), c, allCategories...)
	}
	set(v, path, cs)
}

// uniqueIDs reports repeated keys of a +listType=map list.
func (v *validator) uniqueIDs(list string, key string, ids []string) {
	first := map[string]int{}
	for i, id := range ids {
		if id == "" {
			continue
		}
		if j, ok := first[id]; ok {
			v.addf(fmt.Sprintf("%s[%d].%s", list, i, key), "duplicate %s %q (first at %s[%d])", key, id, list, j)
			continue
		}
		first[id] = i
	}
}

func (v *validator) spec(s *Spec) {
	v.str("displayName", s.DisplayName, true, 64, nil)
	v.str("divisionCode", s.DivisionCode, true, 6, divisionCodePattern)

	townships := map[string]bool{}
	v.maxItems("townships", len(s.Townships), 64)
	ids := make([]string, len(s.Townships))
	for i, t := range s.Townships {
		p := fmt.Sprintf("townships[%d]", i)
		v.id(p+".id", t.ID, true)
		v.str(p+".name", t.Name, true, 64, nil)
		ids[i] = t.ID
		townships[t.ID] = true
	}
	v.uniqueIDs("townships", "id", ids)

	depts := map[string]*Department{}
	if len(s.Departments) == 0 {
		v.addf("departments", "must have at least 1 item")
	}
	v.maxItems("departments", len(s.Departments), 128)
	ids = make([]string, len(s.Departments))
	for i := range s.Departments {
		d := &s.Departments[i]
		ids[i] = d.ID
		if _, dup := depts[d.ID]; !dup {
			depts[d.ID] = d
		}
	}
	v.uniqueIDs("departments", "id", ids)
	for i := range s.Departments {
		v.department(fmt.Sprintf("departments[%d]", i), &s.Departments[i], depts, townships)
	}
	v.supervisionCycles(s.Departments, depts)

	v.maxItems("routingRules", len(s.RoutingRules), 256)
	ids = make([]string, len(s.RoutingRules))
	for i := range s.RoutingRules {
		r := &s.RoutingRules[i]
		ids[i] = r.ID
		p := fmt.Sprintf("routingRules[%d]", i)
		v.rule(p, r, depts, townships)
		if r.Match.matchesEverything() && i < len(s.RoutingRules)-1 {
			v.addf(p+".match", "matches every petition, so the %d rule(s) after it never apply", len(s.RoutingRules)-1-i)
		}
	}
	v.uniqueIDs("routingRules", "id", ids)

	v.str("higherBureau", s.HigherBureau, false, 128, nil)

	v.id("defaultDepartment", s.DefaultDepartment, true)
	v.ref("defaultDepartment", s.DefaultDepartment, depts)

	if s.Deadlines != nil {
		limits := Statutory.limits()
		for _, f := range s.Deadlines.fields(&limits) {
			if *f.override == nil {
				continue
			}
			n := int64(**f.override)
			path := "deadlines." + f.name
			switch {
			case n < 1:
				v.addf(path, "must be at least 1, is %d", n)
			case n > int64(*f.value) && f.name == "evaluationDays":
				v.addf(path, "must be at most %d, is %d", *f.value, n)
			case n > int64(*f.value):
				v.addf(path, "must be at most %d, is %d: a county may shorten a statutory deadline, never lengthen it", *f.value, n)
			}
		}
	}

	if s.Calendar != nil {
		v.calendar(s.Calendar)
	}
	if s.Escalation != nil {
		v.escalation(s.Escalation)
	}
	if s.Warnings != nil {
		v.warnings(s.Warnings, depts)
	}
	if r := s.RepeatDetection; r != nil {
		v.optInt("repeatDetection.similarityPercent", r.SimilarityPercent, 0, 100)
		v.optInt("repeatDetection.windowDays", r.WindowDays, 1, 1095)
	}
}

// supervisionCycles rejects supervising bodies that lead back to where they
// started (A → B → A): an accusation against A would then have nowhere to go
// that A does not control. Self-supervision is reported by department().
func (v *validator) supervisionCycles(list []Department, depts map[string]*Department) {
	for i := range list {
		start := list[i].ID
		seen := map[string]bool{start: true}
		for cur := list[i].SupervisingBody; cur != "" && cur != start; {
			d, ok := depts[cur]
			if !ok || seen[cur] {
				break // undefined, or a cycle not through start (reported from its own members)
			}
			seen[cur] = true
			if d.SupervisingBody == start {
				v.addf(fmt.Sprintf("departments[%d].supervisingBody", i),
					"supervising bodies form a cycle through %q and %q: accusations against %q would come back to it", start, cur, start)
				break
			}
			cur = d.SupervisingBody
		}
	}
}

// ref reports a reference to an undefined department.
func (v *validator) ref(path, id string, depts map[string]*Department) bool {
	if id == "" {
		return false
	}
	if _, ok := depts[id]; !ok {
		v.addf(path, "department %q is not defined", id)
		return false
	}
	return true
}

func (v *validator) department(p string, d *Department, depts map[string]*Department, townships map[string]bool) {
	v.id(p+".id", d.ID, true)
	v.str(p+".name", d.Name, true, 64, nil)
	if d.Kind != "" {
		enum(v, p+".kind", d.Kind, allKinds...)
	}
	v.categories(p+".categories", d.Categories, 1, 3)

	v.id(p+".supervisingBody", d.SupervisingBody, false)
	switch {
	case d.SupervisingBody == "":
	case d.SupervisingBody == d.ID:
		v.addf(p+".supervisingBody", "a department cannot be its own supervisingBody")
	case v.ref(p+".supervisingBody", d.SupervisingBody, depts):
		if !slices.Contains(depts[d.SupervisingBody].Categories, CategoryAccusation) {
			v.addf(p+".supervisingBody", "department %q does not handle accusations, so it cannot receive accusations against %q", d.SupervisingBody, d.ID)
		}
	}

	v.id(p+".township", d.Township, false)
	if d.Township != "" && !townships[d.Township] {
		v.addf(p+".township", "township %q is not defined", d.Township)
	}
	if d.Kind == KindTownship && d.Township == "" {
		v.addf(p+".township", "required for a department of kind township")
	}

	if d.Leader != nil {
		v.str(p+".leader.name", d.Leader.Name, false, 32, nil)
		v.str(p+".leader.title", d.Leader.Title, true, 32, nil)
	}
	v.maxItems(p+".members", len(d.Members), 64)
	for i, m := range d.Members {
		v.str(fmt.Sprintf("%s.members[%d]", p, i), m, true, 32, nil)
	}
	set(v, p+".members", d.Members)
}

func (m *Match) matchesEverything() bool {
	k := m.Keywords
	return len(m.Categories) == 0 && len(m.Townships) == 0 && len(m.Respondents) == 0 &&
		len(m.Channels) == 0 && m.Group == nil &&
		(k == nil || len(k.Any)+len(k.All)+len(k.None) == 0)
}

// mayMatchAccusations reports whether the rule can route an accusation.
func (m *Match) mayMatchAccusations() bool {
	return len(m.Categories) == 0 || slices.Contains(m.Categories, CategoryAccusation)
}

func (v *validator) rule(p string, r *RoutingRule, depts map[string]*Department, townships map[string]bool) {
	v.id(p+".id", r.ID, true)
	v.str(p+".description", r.Description, false, 256, nil)

	m := &r.Match
	v.categories(p+".match.categories", m.Categories, 0, 3)
	if k := m.Keywords; k != nil {
		for _, kw := range []struct {
			name  string
			words []string
		}{{"any", k.Any}, {"all", k.All}, {"none", k.None}} {
			kp := p + ".match.keywords." + kw.name
			v.maxItems(kp, len(kw.words), 64)
			for i, w := range kw.words {
				v.str(fmt.Sprintf("%s[%d]", kp, i), w, true, 32, nil)
			}
		}
	}
	v.maxItems(p+".match.townships", len(m.Townships), 64)
	for i, t := range m.Townships {
		tp := fmt.Sprintf("%s.match.townships[%d]", p, i)
		v.id(tp, t, true)
		if t != "" && !townships[t] {
			v.addf(tp, "township %q is not defined", t)
		}
	}
	set(v, p+".match.townships", m.Townships)
	v.maxItems(p+".match.respondents", len(m.Respondents), 32)
	for i, d := range m.Respondents {
		rp := fmt.Sprintf("%s.match.respondents[%d]", p, i)
		v.id(rp, d, true)
		v.ref(rp, d, depts)
	}
	set(v, p+".match.respondents", m.Respondents)
	v.maxItems(p+".match.channels", len(m.Channels), 5)
	for i, c := range m.Channels {
		enum(v, fmt.Sprintf("%s.match.channels[%d]", p, i), c, allChannels...)
	}
	set(v, p+".match.channels", m.Channels)

	actions := 0
	if a := r.Assign; a != nil {
		actions++
		v.assign(p+".assign", a, m, depts)
	}
	if d := r.Divert; d != nil {
		actions++
		enum(v, p+".divert.legalChannel", d.LegalChannel, allLegal...)
		v.str(p+".divert.body", d.Body, true, 128, nil)
		v.id(p+".divert.department", d.Department, false)
		v.ref(p+".divert.department", d.Department, depts)
		v.str(p+".divert.guidance", d.Guidance, false, 1024, nil)
	}
	if f := r.Forward; f != nil {
		actions++
		v.str(p+".forward.to", f.To, true, 128, nil)
		v.str(p+".forward.reason", f.Reason, false, 512, nil)
	}
	if actions != 1 {
		v.addf(p, "exactly one of assign, divert or forward must be set, found %d", actions)
	}
}

func (v *validator) assign(p string, a *Assign, m *Match, depts map[string]*Department) {
	v.id(p+".lead", a.Lead, true)
	if v.ref(p+".lead", a.Lead, depts) {
		for _, c := range m.Categories {
			if !slices.Contains(depts[a.Lead].Categories, c) {
				v.addf(p+".lead", "department %q does not handle category %q, which the rule matches", a.Lead, c)
			}
		}
	}
	v.maxItems(p+".co", len(a.Co), 16)
	for i, c := range a.Co {
		cp := fmt.Sprintf("%s.co[%d]", p, i)
		v.id(cp, c, true)
		v.ref(cp, c, depts)
		if c == a.Lead {
			v.addf(cp, "%q is already the lead department", c)
		}
	}
	set(v, p+".co", a.Co)

	// Art. 30(3): accusation material must never reach the accused. A rule
	// that can match an accusation against a department and assigns that
	// same department would do exactly that.
	if m.mayMatchAccusations() {
		for _, r := range m.Respondents {
			if r == a.Lead || slices.Contains(a.Co, r) {
				v.addf(p, "would send accusations against %q to %q itself (Art. 30); restrict match.categories or assign its supervising body", r, r)
			}
		}
	}
}

func (v *validator) calendar(c *CalendarSpec) {
	holidays := v.dates("calendar.holidays", c.Holidays, 512)
	workdays := v.dates("calendar.workdays", c.Workdays, 256)
	for i, s := range c.Workdays {
		d, ok := workdays[s]
		if !ok {
			continue
		}
		p := fmt.Sprintf("calendar.workdays[%d]", i)
		if _, both := holidays[s]; both {
			v.addf(p, "%s is also listed as a holiday", s)
		} else if wd := d.Weekday(); wd != time.Saturday && wd != time.Sunday {
			v.addf(p, "%s is a %s, already a working day; workdays lists only weekend make-up days (调休)", s, wd)
		}
	}
}

// dates checks a date list and returns its well-formed dates.
func (v *validator) dates(path string, list []string, max int) map[string]Date {
	v.maxItems(path, len(list), max)
	out := map[string]Date{}
	for i, s := range list {
		p := fmt.Sprintf("%s[%d]", path, i)
		if !datePattern.MatchString(s) {
			v.addf(p, "%q must match %s", s, datePattern)
			continue
		}
		d, err := ParseDate(s)
		if err != nil {
			v.addf(p, "%q is not a date", s)
			continue
		}
		out[s] = d
	}
	set(v, path, list)
	return out
}

func (v *validator) escalation(e *Escalation) {
	v.maxItems("escalation.ladder", len(e.Ladder), 16)
	v.optInt("escalation.answerWorkingDays", e.AnswerWorkingDays, 1, MaxAnswerWorkingDays)
	lastAfter, lastAt := int32(-1), -1
	for i, st := range e.Ladder {
		p := fmt.Sprintf("escalation.ladder[%d]", i)
		enum(v, p+".step", st.Step, allStepKinds...)
		v.optInt(p+".afterDays", st.AfterDays, 0, 365)
		v.optInt(p+".beforeDays", st.BeforeDays, 1, 60)
		v.optInt(p+".percentElapsed", st.PercentElapsed, 1, 99)
		timings := 0
		for _, t := range []*int32{st.AfterDays, st.BeforeDays, st.PercentElapsed} {
			if t != nil {
				timings++
			}
		}
		if timings > 1 {
			v.addf(p, "set at most one of afterDays, beforeDays and percentElapsed")
		}
		if st.Step != StepReminder {
			if st.AfterDays == nil {
				v.addf(p+".afterDays", "required for step %q", st.Step)
			}
			if st.BeforeDays != nil || st.PercentElapsed != nil {
				v.addf(p, "only a reminder can be timed by beforeDays or percentElapsed")
			}
		}
		if st.AfterDays != nil {
			if *st.AfterDays < lastAfter {
				v.addf(p+".afterDays", "%d comes before escalation.ladder[%d].afterDays (%d); the ladder must not go back in time", *st.AfterDays, lastAt, lastAfter)
			} else {
				lastAfter, lastAt = *st.AfterDays, i
			}
		}
	}
	if r := e.Reminders; r != nil {
		v.maxItems("escalation.reminders.percentElapsed", len(r.PercentElapsed), 8)
		for i, n := range r.PercentElapsed {
			v.rangeInt(fmt.Sprintf("escalation.reminders.percentElapsed[%d]", i), int64(n), 1, 99)
		}
		set(v, "escalation.reminders.percentElapsed", r.PercentElapsed)
		v.maxItems("escalation.reminders.daysBefore", len(r.DaysBefore), 8)
		for i, n := range r.DaysBefore {
			v.rangeInt(fmt.Sprintf("escalation.reminders.daysBefore[%d]", i), int64(n), 1, 60)
		}
		set(v, "escalation.reminders.daysBefore", r.DaysBefore)
	}
}

func (v *validator) warnings(w *Warnings, depts map[string]*Department) {
	v.optInt("warnings.groupPersons", w.GroupPersons, 2, 1000)
	v.optInt("warnings.spikeFactorPercent", w.SpikeFactorPercent, 101, 10000)
	v.optInt("warnings.spikeMinCount", w.SpikeMinCount, 1, 10000)
	v.optInt("warnings.baselineDays", w.BaselineDays, 7, 365)
	v.optInt("warnings.repeatMatters", w.RepeatMatters, 2, 100)
	v.optInt("warnings.repeatWindowDays", w.RepeatWindowDays, 1, 1095)
	v.optInt("warnings.overdueThreshold", w.OverdueThreshold, 1, 10000)
	v.maxItems("warnings.overdueThresholds", len(w.OverdueThresholds), 128)
	ids := make([]string, len(w.OverdueThresholds))
	for i, t := range w.OverdueThresholds {
		p := fmt.Sprintf("warnings.overdueThresholds[%d]", i)
		v.id(p+".department", t.Department, true)
		v.ref(p+".department", t.Department, depts)
		v.rangeInt(p+".threshold", int64(t.Threshold), 1, 10000)
		ids[i] = t.Department
	}
	v.uniqueIDs("warnings.overdueThresholds", "department", ids)
}
