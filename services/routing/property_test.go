package routing

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"xinfang.io/county"
)

// The generator builds counties no validation has seen: supervising bodies
// at random (self-loops, cycles, unknown ids, missing), officials with
// namesakes across departments, rules that assign, co-assign or divert to
// the accused, respondents given by id, by name, as an outside body, as an
// official by name or as a department with one of its officials, random
// exclusions from earlier objections and recusals, and officials recused by
// staff.

var propWords = []string{"甲", "乙", "丙", "丁", "戊", "己"}

var propNames = []string{"张伟", "王芳", "李娜", "刘洋", "陈静", "杨帆"}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func subset[T any](r *rand.Rand, xs []T, p float64) []T {
	var out []T
	for _, x := range xs {
		if r.Float64() < p {
			out = append(out, x)
		}
	}
	return out
}

func randomConfig(r *rand.Rand) *county.Config {
	n := 2 + r.IntN(10)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("d%d", i)
	}
	kinds := []county.DepartmentKind{county.KindBureau, county.KindDepartment, county.KindTownship, county.KindCourt, county.KindDiscipline, ""}
	spec := county.Spec{DisplayName: "随机县", DivisionCode: "330599", DefaultDepartment: pick(r, ids)}
	for _, id := range ids {
		d := county.Department{ID: id, Name: "部门" + id, Kind: pick(r, kinds), Categories: subset(r, county.Categories, 0.6)}
		// Officials, with namesakes across departments.
		d.Members = subset(r, propNames, 0.2)
		if r.IntN(3) == 0 {
			d.Leader = &county.Leader{Name: pick(r, propNames), Title: "局长"}
		}
		switch r.IntN(6) {
		case 0: // none
		case 1:
			d.SupervisingBody = id // self-loop
		case 2:
			d.SupervisingBody = "outside"
		default:
			d.SupervisingBody = pick(r, ids)
		}
		spec.Departments = append(spec.Departments, d)
	}
	for i := range r.IntN(12) {
		rule := county.RoutingRule{ID: fmt.Sprintf("r%d", i)}
		m := &rule.Match
		m.Categories = subset(r, county.Categories, 0.4)
		if r.IntN(2) == 0 {
			m.Keywords = &county.Keywords{Any: subset(r, propWords, 0.3), All: subset(r, propWords, 0.1), None: subset(r, propWords, 0.1)}
		}
		m.Respondents = subset(r, ids, 0.15)
		if r.IntN(4) == 0 {
			g := r.IntN(2) == 0
			m.Group = &g
		}
		switch r.IntN(6) {
		case 0:
			rule.Divert = &county.Divert{LegalChannel: county.LegalLitigation, Body: "某法院", Department: pick(r, append(ids, ""))}
		case 1:
			rule.Forward = &county.Forward{To: "外县信访局"}
		default:
			a := &county.Assign{Lead: pick(r, ids), Co: subset(r, ids, 0.3)}
			// Point rules at the respondents they match, the case the guard
			// exists for.
			if len(m.Respondents) > 0 && r.IntN(2) == 0 {
				a.Lead = pick(r, m.Respondents)
			}
			rule.Assign = a
		}
		spec.RoutingRules = append(spec.RoutingRules, rule)
	}
	return &county.Config{ID: "prop", Version: "v1", Spec: spec, Deadlines: county.Statutory}
}

// randomAccusation returns an accusation and every department it accuses:
// the department named, or each department one of whose officials (leader
// or member) is named.
func randomAccusation(r *rand.Rand, cfg *county.Config) (Input, []string) {
	deps := cfg.Spec.Departments
	d := pick(r, deps)
	in := Input{
		CategoryHint: county.CategoryAccusation,
		Request:      pick(r, propWords) + pick(r, propWords) + pick(r, propWords),
		Group:        r.IntN(3) == 0,
		Channel:      pick(r, []county.Channel{county.ChannelWeb, county.ChannelVisit, ""}),
	}
	accused := []string{d.ID}
	switch r.IntN(8) {
	case 0:
		in.Respondent = d.Name // by name
	case 1:
		in.Respondent = "某外部单位" // not a department
		accused = []string{in.Respondent}
	case 2, 3:
		// An official by name: every department with an official of that
		// name is accused (namesakes included, erring on the safe side).
		name := pick(r, propNames)
		in.Respondent, accused = name, officialsDepts(deps, name, "")
		if len(accused) == 0 {
			accused = []string{name} // nobody of that name: an outside person
		}
	case 4:
		// A department and one of its officials.
		names := d.Members
		if d.Leader != nil {
			names = append(slices.Clone(names), d.Leader.Name)
		}
		if len(names) == 0 {
			in.Respondent = d.ID
			break
		}
		in.Respondent = pick(r, []string{d.Name, d.ID + " "}) + pick(r, names)
	default:
		in.Respondent = d.ID
	}
	if r.IntN(4) == 0 {
		in.CategoryHint = "" // classification must still see the accusation
		in.Request = "举报" + in.Request
	}
	return in, accused
}

// officialsDepts lists the departments with an official called name.
func officialsDepts(deps []county.Department, name, _ string) []string {
	var out []string
	for _, d := range deps {
		if slices.Contains(d.Members, name) || (d.Leader != nil && d.Leader.Name == name) {
			out = append(out, d.ID)
		}
	}
	return out
}

func TestPropertyAccusationNeverReachesTheAccused(t *testing.T) {
	r := rand.New(rand.NewPCG(20260302, 4))
	var routed, overridden, refused, byOfficial int
	for i := range 20000 {
		cfg := randomConfig(r)
		rs := compile(cfg) // unchecked: cycles and all
		in, accused := randomAccusation(r, cfg)
		excl := map[string]string{}
		for _, d := range subset(r, cfg.Spec.Departments, 0.2) {
			excl[d.ID] = pick(r, []string{GuardObjection, GuardRecusal})
		}
		opt := Options{RoutingDate: RoutingDate(testNow), Excluded: excl, Attempt: 1 + uint32(r.IntN(3))}
		opt.Rerouting = opt.Attempt > 1
		var recused []string // departments of an official staff recused
		if r.IntN(3) == 0 {
			name := pick(r, propNames)
			opt.Recused, recused = []string{name}, officialsDepts(cfg.Spec.Departments, name, "")
		}
		d, _, err := Decide(rs, in, opt)
		if err != nil {
			t.Fatalf("#%d: %v", i, err)
		}
		if d.Kind == KindAwaitingManual {
			if d.Lead != "" || len(d.Co) != 0 || !containsAll(d.Excluded, accused) {
				t.Fatalf("#%d: awaiting manual routing with a department or without the accused %v excluded: %+v", i, accused, d)
			}
			refused++
			continue
		}
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("#%d: "+format+"\ninput %+v\nexcluded %v\nspec %+v\ndecision %+v", append(append([]any{i}, args...), in, excl, cfg.Spec, d)...)
		}
		if d.Category != county.CategoryAccusation {
			fail("category %s", d.Category)
		}
		switch d.Kind {
		case KindAssigned:
			routed++
			if slices.Contains(accused, d.Lead) || slices.ContainsFunc(d.Co, func(c string) bool { return slices.Contains(accused, c) }) {
				fail("an accused department of %v receives the accusation", accused)
			}
			if _, ok := excl[d.Lead]; ok {
				fail("lead %s is excluded", d.Lead)
			}
			if slices.Contains(recused, d.Lead) || slices.ContainsFunc(d.Co, func(c string) bool { return slices.Contains(recused, c) }) {
				fail("a department of the recused official %v receives the case", opt.Recused)
			}
			for _, c := range d.Co {
				if _, ok := excl[c]; ok {
					fail("co-department %s is excluded", c)
				}
			}
			if _, ok := rs.Department(d.Lead); !ok {
				fail("lead %s is no department", d.Lead)
			}
			if !containsAll(d.Excluded, accused) {
				fail("the accused %v are not all listed as excluded", accused)
			}
			if len(d.Overrides) > 0 {
				overridden++
			}
			if slices.ContainsFunc(d.Exclusions, func(e Exclusion) bool {
				return strings.Contains(e.Reason, "the accused 张伟") || strings.Contains(e.Reason, " of d")
			}) {
				byOfficial++
			}
		case KindDiverted:
			if slices.Contains(accused, d.BodyDepartment) {
				fail("diverted to an accused department of %v", accused)
			}
		}
		// A manual 转办 to an accused department is always refused.
		for _, a := range accused {
			if _, bad := ManualAssign(rs, in, d.Category, a, nil, opt); len(bad) == 0 {
				fail("manual assignment to the accused %s accepted", a)
			}
		}
	}
	// The generator must exercise the guard, not only trivial cases.
	if routed < 10000 || overridden < 2000 || refused == 0 || byOfficial < 1000 {
		t.Fatalf("weak generator: %d routed, %d with overrides, %d refused, %d accusing officials", routed, overridden, refused, byOfficial)
	}
	t.Logf("%d routed, %d with overrides, %d refused, %d accusing officials", routed, overridden, refused, byOfficial)
}

func containsAll(list, want []string) bool {
	for _, w := range want {
		if !slices.Contains(list, w) {
			return false
		}
	}
	return true
}
