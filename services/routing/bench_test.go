package routing

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"xinfang.io/county"
)

// bigCounty is a valid county with 60 departments and 200 keyword rules
// (issue 4's benchmark size).
func bigCounty(b *testing.B) *Ruleset {
	b.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	spec := county.Spec{DisplayName: "基准县", DivisionCode: "330599", DefaultDepartment: "d0"}
	spec.Departments = append(spec.Departments, county.Department{ID: "d0", Name: "信访局", Kind: county.KindBureau, Categories: county.Categories, SupervisingBody: "jw"},
		county.Department{ID: "jw", Name: "纪委监委", Kind: county.KindDiscipline, Categories: []county.Category{county.CategoryAccusation, county.CategoryComplaint}})
	for i := 2; i < 60; i++ {
		spec.Departments = append(spec.Departments, county.Department{ID: fmt.Sprintf("d%d", i), Name: fmt.Sprintf("部门%d", i),
			Kind: county.KindDepartment, Categories: []county.Category{county.CategoryComplaint, county.CategorySuggestion}, SupervisingBody: "jw"})
	}
	for i := range 200 {
		words := make([]string, 8)
		for j := range words {
			words[j] = fmt.Sprintf("词%d_%d", i, j)
		}
		lead := fmt.Sprintf("d%d", 2+r.IntN(58))
		spec.RoutingRules = append(spec.RoutingRules, county.RoutingRule{ID: fmt.Sprintf("rule-%d", i),
			Match:  county.Match{Categories: []county.Category{county.CategoryComplaint}, Keywords: &county.Keywords{Any: words, None: []string{"排除"}}},
			Assign: &county.Assign{Lead: lead}})
	}
	cfg, err := county.NewConfig("bench", spec)
	if err != nil {
		b.Fatal(err)
	}
	rs, err := Compile(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return rs
}

// BenchmarkDecide routes a petition that only the last rule matches, after
// 199 rules have been tried: the worst case of first-match routing. It
// reports decisions/s and the p99 latency of one decision.
func BenchmarkDecide(b *testing.B) {
	rs := bigCounty(b)
	in := Input{CategoryHint: county.CategoryComplaint, Title: "关于某事的来信",
		Request: "请求处理一件长期未解决的问题，涉及词199_7，希望有关部门尽快研究答复。", Facts: "事实经过较长，此处略去若干文字。"}
	opt := Options{RoutingDate: county.NewDate(2026, 3, 2), Attempt: 1}
	if d, _, err := Decide(rs, in, opt); err != nil || d.RuleID != "rule-199" {
		b.Fatalf("decision %+v %v", d, err)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		_, _, _ = Decide(rs, in, opt)
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
		b.ReportMetric(float64(len(lat))/b.Elapsed().Seconds(), "decisions/s")
	}
}
