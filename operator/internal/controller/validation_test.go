package controller

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"xinfang.io/operator/api/v1alpha1"
)

// celMessages are the messages of every x-kubernetes-validations rule in the
// generated CRD.
func celMessages(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "bases", "xinfang.io_counties.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.UnmarshalStrict(data, crd); err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(p *apiextensionsv1.JSONSchemaProps)
	walk = func(p *apiextensionsv1.JSONSchemaProps) {
		if p == nil {
			return
		}
		for _, r := range p.XValidations {
			out = append(out, r.Message)
		}
		for _, c := range p.Properties {
			walk(&c)
		}
		if p.Items != nil {
			walk(p.Items.Schema)
		}
		if p.AdditionalProperties != nil {
			walk(p.AdditionalProperties.Schema)
		}
	}
	for _, v := range crd.Spec.Versions {
		walk(v.Schema.OpenAPIV3Schema)
	}
	sort.Strings(out)
	return out
}

// sampleDoc is the anji sample as a plain document, so a case can make it
// invalid in ways the Go types would not let it.
func sampleDoc(t *testing.T, name string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "samples", "county_anji.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	doc["metadata"] = map[string]any{"name": name}
	return doc
}

func spec(doc map[string]any) map[string]any { return doc["spec"].(map[string]any) }

func department(doc map[string]any, id string) map[string]any {
	for _, d := range spec(doc)["departments"].([]any) {
		if d := d.(map[string]any); d["id"] == id {
			return d
		}
	}
	panic("no department " + id)
}

func rule(doc map[string]any, id string) map[string]any {
	for _, r := range spec(doc)["routingRules"].([]any) {
		if r := r.(map[string]any); r["id"] == id {
			return r
		}
	}
	panic("no rule " + id)
}

func ladder(doc map[string]any) []any {
	return spec(doc)["escalation"].(map[string]any)["ladder"].([]any)
}

// Every CEL rule of the CRD rejects a County that breaks it, through the
// real API server, with the documented message.
func TestInvalidCountiesAreRejected(t *testing.T) {
	needEnv(t)
	ctx := context.Background()
	cases := []struct {
		message string
		break_  func(doc map[string]any)
	}{
		{"defaultDepartment must be the id of a department", func(d map[string]any) { spec(d)["defaultDepartment"] = "nosuch" }},
		{"every routing rule's assign.lead must be the id of a department", func(d map[string]any) {
			rule(d, "land")["assign"] = map[string]any{"lead": "nosuch"}
		}},
		{"every department's supervisingBody must be the id of a department", func(d map[string]any) {
			department(d, "rsj")["supervisingBody"] = "nosuch"
		}},
		{"every department's township must be the id of a township", func(d map[string]any) {
			department(d, "gov-meixi")["township"] = "nosuch"
		}},
		{"every department's township must be the id of a township", func(d map[string]any) {
			delete(spec(d), "townships") // gov-meixi still names one
		}},
		{"a department cannot be its own supervisingBody", func(d map[string]any) {
			department(d, "rsj")["supervisingBody"] = "rsj"
		}},
		{"a department of kind township must name its township", func(d map[string]any) {
			delete(department(d, "gov-meixi"), "township")
		}},
		{"exactly one of assign, divert or forward must be set", func(d map[string]any) {
			rule(d, "litigation")["assign"] = map[string]any{"lead": "fy"}
		}},
		{"set bootstrapServers or strimziCluster", func(d map[string]any) { spec(d)["kafka"] = map[string]any{} }},
		{"a date cannot be both a holiday and a make-up working day", func(d map[string]any) {
			cal := spec(d)["calendar"].(map[string]any)
			cal["workdays"] = append(cal["workdays"].([]any), "2026-10-01")
		}},
		{"steps other than reminder need afterDays", func(d map[string]any) {
			delete(ladder(d)[2].(map[string]any), "afterDays")
		}},
		{"only a reminder can be timed by beforeDays or percentElapsed", func(d map[string]any) {
			step := ladder(d)[1].(map[string]any)
			delete(step, "afterDays")
			step["beforeDays"] = int64(2)
		}},
		{"set at most one of afterDays, beforeDays and percentElapsed", func(d map[string]any) {
			ladder(d)[0].(map[string]any)["beforeDays"] = int64(2)
			ladder(d)[0].(map[string]any)["percentElapsed"] = int64(50)
		}},
		{"a county name is at most 55 characters (the namespace is xinfang-<name>)", func(d map[string]any) {
			d["metadata"] = map[string]any{"name": strings.Repeat("a", 56)}
		}},
	}
	covered := map[string]bool{"divisionCode is immutable": true, "layout is chosen when the County is created": true} // updates: below
	for _, tc := range cases {
		covered[tc.message] = true
		t.Run(tc.message, func(t *testing.T) {
			doc := sampleDoc(t, "invalid")
			tc.break_(doc)
			err := k8s.Create(ctx, &unstructured.Unstructured{Object: doc})
			if err == nil {
				t.Fatal("accepted")
			}
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("rejected, but not with %q: %v", tc.message, err)
			}
		})
	}
	for _, m := range celMessages(t) {
		if !covered[m] {
			t.Errorf("the CRD's rule %q has no case here", m)
		}
	}

	// The sample itself is valid, and 55 characters is fine.
	doc := sampleDoc(t, strings.Repeat("b", 55))
	u := &unstructured.Unstructured{Object: doc}
	u.SetLabels(map[string]string{manualLabel: "true"}) // not for the manager to provision
	if err := k8s.Create(ctx, u); err != nil {
		t.Fatalf("the sample with a 55-character name was rejected: %v", err)
	}
	defer func() { _ = k8s.Delete(ctx, u) }()

	t.Run("divisionCode is immutable", func(t *testing.T) {
		spec(u.Object)["divisionCode"] = "330522"
		err := k8s.Update(ctx, u)
		if err == nil || !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "divisionCode is immutable") {
			t.Fatalf("division code change: %v", err)
		}
	})
	// A County that names no layout gets the default, and keeps it: moving
	// a SQLite county's services between pods would run two writers on a
	// file for a moment.
	t.Run("layout is chosen when the County is created", func(t *testing.T) {
		fresh := &unstructured.Unstructured{}
		fresh.SetGroupVersionKind(u.GroupVersionKind())
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(u), fresh); err != nil {
			t.Fatal(err)
		}
		if got := spec(fresh.Object)["layout"]; got != string(v1alpha1.LayoutPodPerService) {
			t.Fatalf("default layout %v, want %s", got, v1alpha1.LayoutPodPerService)
		}
		spec(fresh.Object)["layout"] = string(v1alpha1.LayoutPodPerCounty)
		err := k8s.Update(ctx, fresh)
		if err == nil || !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "layout is chosen when the County is created") {
			t.Fatalf("layout change: %v", err)
		}
		doc := sampleDoc(t, "invalid-layout")
		spec(doc)["layout"] = "PodPerTownship"
		if err := k8s.Create(ctx, &unstructured.Unstructured{Object: doc}); err == nil || !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "PodPerTownship") {
			t.Fatalf("unknown layout: %v", err)
		}
	})
}
