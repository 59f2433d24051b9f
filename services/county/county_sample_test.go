package county

import (
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"testing"

	"sigs.k8s.io/yaml"
)

const samplePath = "../../operator/config/samples/county_anji.yaml"

func loadSample(t *testing.T) *Config {
	t.Helper()
	c, err := Load(samplePath)
	if err != nil {
		t.Fatalf("the Anji sample does not load: %v", err)
	}
	return c
}

func TestSampleManifest(t *testing.T) {
	c := loadSample(t)
	if c.ID != "anji" || c.Spec.DisplayName != "安吉县" || c.Spec.DivisionCode != "330523" {
		t.Fatalf("id %q, displayName %q, divisionCode %q", c.ID, c.Spec.DisplayName, c.Spec.DivisionCode)
	}
	var townships []string
	for _, tw := range c.Spec.Townships {
		townships = append(townships, tw.Name)
	}
	want := []string{"递铺街道", "昌硕街道", "灵峰街道", "孝源街道", "天子湖镇", "鄣吴镇", "杭垓镇", "孝丰镇", "报福镇", "章村镇", "天荒坪镇", "梅溪镇", "溪龙乡", "上墅乡", "山川乡"}
	if !slices.Equal(townships, want) {
		t.Errorf("townships = %v", townships)
	}
	for _, id := range []string{"xfj", "rsj", "zjj", "zrzyj", "gaj", "fy", "jcy", "jwjw", "sjwjw", "jyj", "wjj", "scjgj", "sthjj", "nyncj"} {
		if _, ok := c.Department(id); !ok {
			t.Errorf("department %s missing", id)
		}
	}
	// Accusations against anyone but the discipline bodies go to the county
	// discipline body; against it, to the city's.
	for _, d := range c.Spec.Departments {
		switch d.ID {
		case "jwjw":
			if d.SupervisingBody != "sjwjw" {
				t.Errorf("jwjw is supervised by %q", d.SupervisingBody)
			}
		case "sjwjw":
		default:
			if d.SupervisingBody != "jwjw" {
				t.Errorf("%s is supervised by %q, want jwjw", d.ID, d.SupervisingBody)
			}
		}
	}
	if n := len(c.Spec.RoutingRules); n < 10 || n > 16 {
		t.Errorf("%d routing rules", n)
	}
	actions := map[string]bool{}
	for _, r := range c.Spec.RoutingRules {
		switch {
		case r.Divert != nil:
			actions[string(r.Divert.LegalChannel)] = true
		case r.Forward != nil:
			actions["forward"] = true
		case r.Match.Group != nil:
			actions["group"] = true
		case len(r.Match.Townships) > 0:
			actions["township"] = true
		}
	}
	for _, a := range []string{"litigation", "arbitration", "administrative-reconsideration", "forward", "group", "township"} {
		if !actions[a] {
			t.Errorf("no %s rule in the sample", a)
		}
	}

	if c.Deadlines.RoutingDays != 10 || c.Deadlines.AcknowledgeDays != 10 || c.Deadlines.HandlingDays != Statutory.HandlingDays {
		t.Errorf("effective deadlines = %+v", c.Deadlines)
	}
	// The sample's calendar is the 2026 notice.
	if got := c.Calendar.AddDays(d(t, "2026-02-05"), c.Deadlines.AcknowledgeDays); got != d(t, "2026-02-24") {
		t.Errorf("10 days from 2026-02-05 = %v, want 2026-02-24 (02-15 falls in 春节)", got)
	}
	if got := c.Calendar.AddWorkingDays(d(t, "2026-02-12"), c.Deadlines.ObjectionWorkingDays); got != d(t, "2026-02-26") {
		t.Errorf("5 working days from 2026-02-12 = %v, want 2026-02-26", got)
	}
	if !c.Calendar.Covers(2026) {
		t.Error("sample calendar does not cover 2026")
	}
	ladder := c.Spec.Escalation.Ladder
	if len(ladder) != 5 || ladder[0].Step != StepReminder || ladder[4].Step != StepListed || *ladder[4].AfterDays != 30 {
		t.Errorf("ladder = %+v", ladder)
	}
}

// TestSampleAsBareSpec renders the sample the other way the operator may
// write the rules file, a bare spec with an id, and expects the same rules
// and version.
func TestSampleAsBareSpec(t *testing.T) {
	manifest := loadSample(t)
	raw, err := os.ReadFile(samplePath)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Spec map[string]any `json:"spec"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range OperatorOnlyFields {
		delete(doc.Spec, k)
	}
	doc.Spec["id"] = "anji"
	j, err := json.MarshalIndent(doc.Spec, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	y, err := yaml.JSONToYAML(j)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"JSON": j, "YAML": y} {
		bare, err := Parse(data)
		if err != nil {
			t.Fatalf("bare %s: %v", name, err)
		}
		if bare.ID != "anji" || bare.Version != manifest.Version || !reflect.DeepEqual(bare.Spec, manifest.Spec) {
			t.Errorf("bare %s: id %q version %s, manifest version %s", name, bare.ID, bare.Version, manifest.Version)
		}
	}
}
