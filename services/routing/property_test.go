package routing

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"xinfang.io/county"
)

// The generator builds counties no validation has seen: supervising bodies
// at random (self-loops, cycles, unknown ids, missing), rules that assign,
// co-assign or divert to the accused, respondents given by id, by name or as
// an outside body, and random exclusions from earlier objections.

var propWords = []string{"甲", "乙", "丙", "丁", "戊", "己"}

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

func randomAccusation(r *rand.Rand, cfg *county.Config) (Input, string) {
	deps := cfg.Spec.Departments
	d := pick(r, deps)
	in := Input{
		CategoryHint: county.CategoryAccusation,
		Request:      pick(r, propWords) + pick(r, propWords) + pick(r, propWords),
		Group:        r.IntN(3) == 0,
		Channel:      pick(r, []county.Channel{county.ChannelWeb, county.ChannelVisit, ""}),
	}
	switch r.IntN(5) {
	case 0:
		in.Respondent = d.Name // by name
	case 1:
		in.Respondent = "某外部单位" // not a department
		return in, in.Respondent
	default:
		in.Respondent = d.ID
	}
	if r.IntN(4) == 0 {
		in.CategoryHint = "" // classification must still see the accusation
		in.Request = "举报" + in.Request
	}
	return in, d.ID
}

func TestPropertyAccusationNeverReachesTheAccused(t *testing.T) {
	r := rand.New(rand.NewPCG(20260302, 4))
	var routed, overridden, refused int
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
		d, _, err := Decide(rs, in, opt)
		if err != nil {
			if !errors.Is(err, ErrNoDepartment) {
				t.Fatalf("#%d: %v", i, err)
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
			if d.Lead == accused || slices.Contains(d.Co, accused) {
				fail("the accused %s receives the accusation", accused)
			}
			if _, ok := excl[d.Lead]; ok {
				fail("lead %s is excluded", d.Lead)
			}
			for _, c := range d.Co {
				if _, ok := excl[c]; ok {
					fail("co-department %s is excluded", c)
				}
			}
			if _, ok := rs.Department(d.Lead); !ok {
				fail("lead %s is no department", d.Lead)
			}
			if !slices.Contains(d.Excluded, accused) {
				fail("the accused %s is not listed as excluded", accused)
			}
			if len(d.Overrides) > 0 {
				overridden++
			}
		case KindDiverted:
			if d.BodyDepartment == accused {
				fail("diverted to the accused %s", accused)
			}
		}
		// A manual 转办 to the accused is always refused.
		if _, bad := ManualAssign(rs, in, d.Category, accused, nil, opt); len(bad) == 0 {
			fail("manual assignment to the accused %s accepted", accused)
		}
	}
	// The generator must exercise the guard, not only trivial cases.
	if routed < 10000 || overridden < 2000 || refused == 0 {
		t.Fatalf("weak generator: %d routed, %d with overrides, %d refused", routed, overridden, refused)
	}
	t.Logf("%d routed, %d with overrides, %d refused", routed, overridden, refused)
}
