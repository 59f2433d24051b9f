package county

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func TestParseBareSpecID(t *testing.T) {
	c, err := Parse([]byte(minimalYAML))
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != "testcounty" || c.Spec.DisplayName != "测试县" {
		t.Fatalf("ID = %q, displayName = %q", c.ID, c.Spec.DisplayName)
	}
	if d, ok := c.Department("zjj"); !ok || d.Name != "住建局" {
		t.Fatalf("Department(zjj) = %v, %v", d, ok)
	}
	if _, ok := c.Department("nope"); ok {
		t.Fatal("Department(nope) found")
	}
	if c.Deadlines.RoutingDays != 10 || c.Deadlines.HandlingDays != 60 {
		t.Fatalf("effective deadlines = %+v", c.Deadlines)
	}

	noID := strings.Replace(minimalYAML, "id: testcounty\n", "", 1)
	if _, err := Parse([]byte(noID)); err == nil || !strings.Contains(err.Error(), "county id is missing") {
		t.Fatalf("Parse without id: %v", err)
	}
	c, err = Parse([]byte(noID), WithCountyID("anji"))
	if err != nil || c.ID != "anji" {
		t.Fatalf("Parse WithCountyID: %v, %v", c, err)
	}
	if _, err := Parse([]byte(minimalYAML), WithCountyID("anji")); err == nil || !strings.Contains(err.Error(), `file is for county "testcounty", expected county "anji"`) {
		t.Fatalf("conflicting ids: %v", err)
	}
	if _, err := Parse([]byte(noID), WithCountyID("An_Ji")); err == nil || !strings.Contains(err.Error(), "must match") {
		t.Fatalf("bad id: %v", err)
	}
	if _, err := Parse([]byte(noID), WithCountyID(strings.Repeat("a", 56))); err == nil || !strings.Contains(err.Error(), "longer than 55") {
		t.Fatalf("long id: %v", err)
	}
}

func TestParseJSON(t *testing.T) {
	j, err := yaml.YAMLToJSON([]byte(minimalYAML))
	if err != nil {
		t.Fatal(err)
	}
	fromJSON, err := Parse(j)
	if err != nil {
		t.Fatalf("Parse JSON: %v", err)
	}
	fromYAML, err := Parse([]byte(minimalYAML))
	if err != nil {
		t.Fatal(err)
	}
	if fromJSON.Version != fromYAML.Version {
		t.Fatalf("JSON and YAML of the same spec differ in version: %s vs %s", fromJSON.Version, fromYAML.Version)
	}
}

func TestParseStrict(t *testing.T) {
	for _, tc := range []struct {
		name, old, new, path, msg string
	}{
		{"unknown spec field", "defaultDepartment: xfj", "defaultDepartment: xfj\nroutingDays: 10", "routingDays", "unknown field"},
		{"misspelt nested field", "{id: zjj, name: 住建局", "{id: zjj, nmae: 住建局", "departments[2].nmae", "unknown field"},
		{"field names are case-sensitive", "displayName:", "DisplayName:", "DisplayName", "unknown field"},
		{"unknown deep field", "assign: {lead: zjj, co: [gov-a]}", "assign: {lead: zjj, co: [gov-a], cc: [xfj]}", "routingRules[0].assign.cc", "unknown field"},
		{"unquoted division code", `divisionCode: "330599"`, "divisionCode: 330599", "divisionCode", "must be a string, got number 330599 (quote it in YAML)"},
		{"string for integer", "routingDays: 10", `routingDays: "10"`, "deadlines.routingDays", `must be an integer, got string "10"`},
		{"fraction for integer", "routingDays: 10", "routingDays: 10.5", "deadlines.routingDays", "must be an integer, got number 10.5"},
		{"integer out of range", "routingDays: 10", "routingDays: 9999999999", "deadlines.routingDays", "out of range"},
		{"scalar for list", "workdays: [\"2026-02-14\"]", `workdays: "2026-02-14"`, "calendar.workdays", "must be a list"},
		{"list for object", "deadlines: {routingDays: 10}", "deadlines: [10]", "deadlines", "must be an object"},
		{"string for bool", "notifyLeader: true", "notifyLeader: \"yes\"", "escalation.ladder[2].notifyLeader", "must be true or false"},
		{"operator-only field in a bare spec", "defaultDepartment: xfj", "defaultDepartment: xfj\ndeletionPolicy: Retain", "deletionPolicy", "only in a whole County manifest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(minimalYAML, tc.old) {
				t.Fatalf("test is stale: %q not in minimalYAML", tc.old)
			}
			_, err := Parse([]byte(strings.Replace(minimalYAML, tc.old, tc.new, 1)))
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			if errs := fieldErrors(t, err); !hasFieldError(errs, tc.path, tc.msg) {
				t.Fatalf("want %s: ...%s...; got %v", tc.path, tc.msg, err)
			}
		})
	}
}

func TestParseRejectsDuplicateKeysAndNonObjects(t *testing.T) {
	dup := strings.Replace(minimalYAML, "defaultDepartment: xfj", "defaultDepartment: xfj\ndefaultDepartment: zjj", 1)
	if _, err := Parse([]byte(dup)); err == nil || !strings.Contains(err.Error(), "defaultDepartment") {
		t.Fatalf("duplicate key: %v", err)
	}
	for _, doc := range []string{"[1, 2]", "just text", "{"} {
		if _, err := Parse([]byte(doc)); err == nil {
			t.Errorf("Parse(%q) succeeded", doc)
		}
	}
}

func TestParseReturnsValidationErrors(t *testing.T) {
	bad := strings.Replace(minimalYAML, "assign: {lead: zjj,", "assign: {lead: zzj,", 1)
	_, err := Parse([]byte(bad))
	if !hasFieldError(fieldErrors(t, err), "routingRules[0].assign.lead", `department "zzj" is not defined`) {
		t.Fatalf("got %v", err)
	}
}

// manifest wraps minimalYAML's spec in a County manifest.
func manifest(t *testing.T, extraSpec string) string {
	t.Helper()
	body := strings.Replace(minimalYAML, "id: testcounty\n", "", 1)
	var b strings.Builder
	b.WriteString("apiVersion: xinfang.io/v1alpha1\nkind: County\nmetadata:\n  name: testcounty\n  labels: {province: zhejiang}\nspec:\n")
	for _, line := range strings.Split(strings.TrimSpace(body+extraSpec), "\n") {
		b.WriteString("  " + line + "\n")
	}
	return b.String()
}

func TestParseManifest(t *testing.T) {
	bare, err := Parse([]byte(minimalYAML))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse([]byte(manifest(t, "")))
	if err != nil {
		t.Fatalf("Parse manifest: %v", err)
	}
	if m.ID != "testcounty" || m.Version != bare.Version {
		t.Fatalf("manifest: id %q version %s, bare version %s", m.ID, m.Version, bare.Version)
	}

	ops := "\ndeletionPolicy: Retain\nreconciliation: Paused\nservices: {routing: {replicas: 2}}\nkafka: {bootstrap: kafka:9092}\ndatabase: {driver: postgres}\nimage: {tag: v1}\n"
	withOps, err := Parse([]byte(manifest(t, ops) + "status:\n  observedGeneration: 3\n"))
	if err != nil {
		t.Fatalf("Parse manifest with operator-only fields and status: %v", err)
	}
	if withOps.Version != bare.Version {
		t.Fatalf("operator-only fields changed the rules version: %s vs %s", withOps.Version, bare.Version)
	}

	if _, err := Parse([]byte(manifest(t, "\nreplicas: 3\n"))); !hasFieldError(fieldErrors(t, err), "replicas", "unknown field") {
		t.Fatalf("unknown field in manifest spec: %v", err)
	}
	for name, tc := range map[string]struct{ old, new, msg string }{
		"wrong apiVersion": {"xinfang.io/v1alpha1", "xinfang.io/v1", "apiVersion xinfang.io/v1 is not supported"},
		"wrong kind":       {"kind: County", "kind: ConfigMap", "kind ConfigMap is not supported"},
		"no name":          {"  name: testcounty\n", "", "no metadata.name"},
		"unknown top":      {"kind: County\n", "kind: County\ndata: {}\n", `unknown top-level field "data"`},
		"no spec":          {"spec:\n", "specs:\n", `unknown top-level field "specs"`},
	} {
		doc := strings.Replace(manifest(t, ""), tc.old, tc.new, 1)
		if _, err := Parse([]byte(doc)); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: got %v, want %q", name, err, tc.msg)
		}
	}
	if _, err := Parse([]byte(manifest(t, "")), WithCountyID("other")); err == nil {
		t.Error("manifest for testcounty accepted as county other")
	}
}

func TestVersion(t *testing.T) {
	base, err := Parse([]byte(minimalYAML))
	if err != nil {
		t.Fatal(err)
	}
	if len(base.Version) != 16 || strings.Trim(base.Version, "0123456789abcdef") != "" {
		t.Fatalf("Version %q is not 16 hex digits", base.Version)
	}
	same := map[string]string{
		"comments and blank lines": "# rules of 测试县\n\n" + strings.ReplaceAll(minimalYAML, "\n", "\n\n"),
		"key order":                strings.Replace(minimalYAML, "displayName: 测试县\ndivisionCode: \"330599\"", "divisionCode: \"330599\"\ndisplayName: 测试县", 1),
		"flow vs block style":      strings.Replace(minimalYAML, "deadlines: {routingDays: 10}", "deadlines:\n    routingDays:    10", 1),
		"inner key order":          strings.Replace(minimalYAML, "{id: town-a, name: 甲镇}", "{name: 甲镇, id: town-a}", 1),
	}
	for name, doc := range same {
		c, err := Parse([]byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if c.Version != base.Version {
			t.Errorf("%s changed the version: %s vs %s", name, c.Version, base.Version)
		}
	}
	different := map[string]string{
		"a keyword":        strings.Replace(minimalYAML, "any: [物业, 拆迁]", "any: [物业, 拆迁, 漏水]", 1),
		"keyword order":    strings.Replace(minimalYAML, "any: [物业, 拆迁]", "any: [拆迁, 物业]", 1),
		"a deadline":       strings.Replace(minimalYAML, "routingDays: 10", "routingDays: 9", 1),
		"explicit default": strings.Replace(minimalYAML, "routingDays: 10", "routingDays: 10, handlingDays: 60", 1),
	}
	for name, doc := range different {
		c, err := Parse([]byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if c.Version == base.Version {
			t.Errorf("changing %s kept the version %s", name, c.Version)
		}
	}
}

func TestLoad(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "missing.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load of a missing file: %v", err)
	}
	path := writeFile(t, t.TempDir(), "county.yaml", strings.Replace(minimalYAML, "lead: zjj", "lead: zzj", 1))
	_, err = Load(path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Load error does not name the file: %v", err)
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Load does not wrap the ValidationError: %v", err)
	}
}
