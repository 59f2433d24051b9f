package routing

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"xinfang.io/county"
)

// official is a named person of a department: its leader (by name when
// the county file gives one, else by post) or one of its members.
type official struct {
	name   string
	title  string // the leader's title; empty for members
	dept   string
	leader bool
}

// String names the official in decision notes: 张三 (局长 of zjj).
func (o official) String() string {
	role := "an official of " + o.dept
	if o.leader {
		role = "the leader of " + o.dept
		if o.title != "" {
			role = o.title + ", the leader of " + o.dept
		}
	}
	if o.name == "" {
		return role
	}
	return o.name + " (" + role + ")"
}

// respondent is what a petition's respondent (被反映人/单位) names, resolved
// against the county's departments and officials.
type respondent struct {
	// department is what routing rules' respondents match: the one
	// department the respondent names or whose official it names, else
	// the respondent as written (trimmed).
	department string
	// known says department is one of the county's departments.
	known bool
	// depts are the departments named as bodies (by id, full name, or the
	// name without the county's prefix), in the county file's order.
	depts []string
	// officials are the persons named (by name, or a leader by post).
	officials []official
}

// nameForm is one way a department's name is written.
type nameForm struct {
	text string
	dept string
}

// indexPeople builds the indexes respondent resolution needs; part of
// compile.
func (rs *Ruleset) indexPeople() {
	spec := &rs.Config.Spec
	for i := range spec.Departments {
		d := &spec.Departments[i]
		if d.Name == "" {
			continue
		}
		rs.nameForms = append(rs.nameForms, nameForm{text: d.Name, dept: d.ID})
		if s := shortName(spec.DisplayName, d.Name); s != d.Name && utf8.RuneCountInString(s) >= 2 {
			rs.nameForms = append(rs.nameForms, nameForm{text: s, dept: d.ID})
			if _, taken := rs.byName[s]; !taken {
				rs.byName[s] = d.ID
			}
		}
		if l := d.Leader; l != nil && strings.TrimSpace(l.Name) != "" {
			rs.people = append(rs.people, official{name: strings.TrimSpace(l.Name), title: l.Title, dept: d.ID, leader: true})
		}
		for _, m := range d.Members {
			if m = strings.TrimSpace(m); m != "" {
				rs.people = append(rs.people, official{name: m, dept: d.ID})
			}
		}
	}
	// Longest first: resolveRespondent removes a matched name from the
	// text, so a name inside a longer one does not match again.
	slices.SortStableFunc(rs.nameForms, func(a, b nameForm) int {
		return utf8.RuneCountInString(b.text) - utf8.RuneCountInString(a.text)
	})
	for _, t := range spec.Townships {
		rs.townships[t.ID] = t.ID
		if t.Name != "" {
			rs.townships[t.Name] = t.ID
		}
	}
}

// shortName is a department's name without the county's name and a
// leading 县, the way petitioners write it (intake recognises the same
// form): 安吉县住房和城乡建设局 → 住房和城乡建设局.
func shortName(county, name string) string {
	return strings.TrimPrefix(strings.TrimPrefix(name, county), "县")
}

// resolveRespondent reads a respondent as intake recorded it. Accepted
// forms: a department (id, full name, name without the county's prefix);
// an official by name (张三); a department and an official (安吉县住房和城乡
// 建设局张三, zjj 张三, 张三（住建局）— the name of a department inside the
// text counts only in full or without the county's prefix); a department
// and its leader's post (安吉县住房和城乡建设局局长). Names of fewer than
// two characters are only matched exactly, so that one character cannot
// match inside unrelated text.
func (rs *Ruleset) resolveRespondent(s string) respondent {
	s = strings.TrimSpace(s)
	if s == "" {
		return respondent{}
	}
	if _, ok := rs.depts[s]; ok {
		return respondent{department: s, known: true, depts: []string{s}}
	}
	if id, ok := rs.byName[s]; ok {
		return respondent{department: id, known: true, depts: []string{id}}
	}
	if len(rs.people) == 0 && !rs.mayNameDepartment(s) {
		return respondent{department: s}
	}

	var r respondent
	// Departments named inside the text, longest form first so that a
	// name contained in a longer one does not count twice.
	rest := s
	for _, f := range rs.nameForms {
		if strings.Contains(rest, f.text) {
			if !slices.Contains(r.depts, f.dept) {
				r.depts = append(r.depts, f.dept)
			}
			rest = strings.ReplaceAll(rest, f.text, " ")
		}
	}
	for _, tok := range strings.FieldsFunc(strings.ToLower(s), func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-')
	}) {
		if _, ok := rs.depts[tok]; ok && !slices.Contains(r.depts, tok) {
			r.depts = append(r.depts, tok)
			rest = strings.ReplaceAll(rest, tok, " ")
		}
	}
	// Officials by name. When the text also names departments and one of
	// them has an official of that name, the others of that name are
	// someone else.
	var byName []official
	for _, p := range rs.people {
		if p.name == s || (utf8.RuneCountInString(p.name) >= 2 && strings.Contains(rest, p.name)) {
			byName = append(byName, p)
		}
	}
	if len(r.depts) > 0 && slices.ContainsFunc(byName, func(p official) bool { return slices.Contains(r.depts, p.dept) }) {
		byName = slices.DeleteFunc(byName, func(p official) bool { return !slices.Contains(r.depts, p.dept) })
	}
	r.officials = byName
	// A named department's leader by post: 住建局局长.
	for _, id := range r.depts {
		d := rs.depts[id]
		if d.Leader == nil || slices.ContainsFunc(r.officials, func(p official) bool { return p.dept == id && p.leader }) {
			continue
		}
		for _, t := range splitTitle(d.Leader.Title) {
			if strings.Contains(rest, t) {
				r.officials = append(r.officials, official{name: strings.TrimSpace(d.Leader.Name), title: d.Leader.Title, dept: id, leader: true})
				break
			}
		}
	}
	var all []string
	for _, id := range r.depts {
		all = append(all, id)
	}
	for _, p := range r.officials {
		if !slices.Contains(all, p.dept) {
			all = append(all, p.dept)
		}
	}
	if len(all) == 1 {
		r.department, r.known = all[0], true
	} else {
		r.department = s
	}
	return r
}

// mayNameDepartment is a cheap pre-check: could s contain a department's
// name or id at all?
func (rs *Ruleset) mayNameDepartment(s string) bool {
	for _, f := range rs.nameForms {
		if strings.Contains(s, f.text) {
			return true
		}
	}
	ls := strings.ToLower(s)
	for id := range rs.depts {
		if strings.Contains(ls, id) {
			return true
		}
	}
	return false
}

// splitTitle splits a combined post (书记、主任) into its posts.
func splitTitle(t string) []string {
	var out []string
	for _, p := range strings.FieldsFunc(t, func(c rune) bool { return c == '、' || c == '/' || c == ',' || c == '，' || c == ' ' }) {
		if utf8.RuneCountInString(p) >= 2 {
			out = append(out, p)
		}
	}
	return out
}

// officialsNamed finds the officials a recusal names: by name, or in any
// form resolveRespondent reads.
func (rs *Ruleset) officialsNamed(name string) []official {
	return rs.resolveRespondent(name).officials
}

// exclusion is why a department may not receive a case.
type exclusion struct {
	guard string
	why   string
}

// guardRank orders the guards when one department is excluded twice: the
// accusation guard decides where the case goes instead (the supervising
// body), so it wins.
func guardRank(g string) int {
	switch g {
	case GuardAccusation:
		return 3
	case GuardRecusal:
		return 2
	case GuardObjection:
		return 1
	}
	return 0
}

func addExclusion(m map[string]exclusion, dept string, e exclusion) {
	if old, ok := m[dept]; ok && guardRank(old.guard) > guardRank(e.guard) {
		return
	}
	m[dept] = e
}

// exclusions are the departments a case must not reach and why: those
// excluded before (objections, recusals; stored per case), the accused
// of an accusation — the department named, and the department of every
// official named (Art. 30(3), 46(5)) — and, for any other matter, the
// department whose leader the petition is about, who has a direct interest
// in it (Art. 28(3)). A member named in a complaint does not exclude the
// department: it has the authority, and the member stands aside within it.
// recused are officials bureau staff recused by name (Art. 28(3)); their
// departments are excluded.
func (rs *Ruleset) exclusions(resp respondent, cat county.Category, prior map[string]string, recused []string) map[string]exclusion {
	m := make(map[string]exclusion, len(prior)+2)
	for id, g := range prior {
		m[id] = exclusion{guard: g, why: guardNote(g)}
	}
	if cat == county.CategoryAccusation {
		if resp.department != "" && !resp.known && len(resp.officials) == 0 && len(resp.depts) == 0 {
			// A body that is not one of the county's departments: listed
			// as excluded all the same, so that it is on record.
			addExclusion(m, resp.department, exclusion{GuardAccusation, "the accused body, Art. 30(3), 46(5)"})
		}
		for _, id := range resp.depts {
			addExclusion(m, id, exclusion{GuardAccusation, "the accused department, Art. 30(3), 46(5)"})
		}
		for _, p := range resp.officials {
			addExclusion(m, p.dept, exclusion{GuardAccusation, fmt.Sprintf("the accused %s, Art. 30(3), 46(5)", p)})
		}
	} else {
		for _, p := range resp.officials {
			if p.leader {
				addExclusion(m, p.dept, exclusion{GuardRecusal, fmt.Sprintf("the petition is about %s, who has a direct interest in it: recused, Art. 28(3)", p)})
			}
		}
	}
	for _, name := range recused {
		for _, p := range rs.officialsNamed(name) {
			addExclusion(m, p.dept, exclusion{GuardRecusal, fmt.Sprintf("%s recused by bureau staff, Art. 28(3)", p)})
		}
	}
	return m
}

// Exclusion is a department a case must not reach, with the guard and why.
type Exclusion struct {
	Department string `json:"department"`
	Guard      string `json:"guard"`
	Reason     string `json:"reason"`
}

func exclusionList(m map[string]exclusion) []Exclusion {
	if len(m) == 0 {
		return nil
	}
	out := make([]Exclusion, 0, len(m))
	for _, id := range sortedKeys(m) {
		out = append(out, Exclusion{Department: id, Guard: m[id].guard, Reason: m[id].why})
	}
	return out
}
