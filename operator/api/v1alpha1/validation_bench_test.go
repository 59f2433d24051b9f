package v1alpha1_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"
)

// pairwiseRules are the spec's cross-reference rules as they were written
// before session 8: for every reference, a scan of every department (or
// township). The API server evaluates them on every write of a County,
// status patches included; BenchmarkCountyValidation measures them beside
// the committed rules (by message).
var pairwiseRules = map[string]string{
	"every routing rule's assign.lead must be the id of a department":   "!has(self.routingRules) || self.routingRules.all(r, !has(r.assign) || self.departments.exists(d, d.id == r.assign.lead))",
	"every department's supervisingBody must be the id of a department": "self.departments.all(x, !has(x.supervisingBody) || self.departments.exists(d, d.id == x.supervisingBody))",
	"every department's township must be the id of a township":          "self.departments.all(x, !has(x.township) || (has(self.townships) && self.townships.exists(t, t.id == x.township)))",
}

// BenchmarkCountyValidation is the CEL validation the API server runs on
// every write of a County (the CRD's x-kubernetes-validations, through the
// API server's own validator), for the anji sample: on a create, and on an
// update such as the operator's status patch. rules=committed is the CRD
// as generated; rules=pairwise the same CRD with pairwiseRules.
func BenchmarkCountyValidation(b *testing.B) {
	crd := loadCRD(b)
	obj := sample(b)
	for _, variant := range []struct {
		name  string
		rules map[string]string
	}{{"committed", nil}, {"pairwise", pairwiseRules}} {
		props := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.DeepCopy()
		if n := replaceRules(props, variant.rules); n != len(variant.rules) {
			b.Fatalf("%s: replaced %d rules of %d", variant.name, n, len(variant.rules))
		}
		internal := &apiextensions.JSONSchemaProps{}
		if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(props, internal, nil); err != nil {
			b.Fatal(err)
		}
		ss, err := structuralschema.NewStructural(internal)
		if err != nil {
			b.Fatal(err)
		}
		v := cel.NewValidator(ss, true, celconfig.PerCallLimit)
		validate := func(obj, old map[string]any) field.ErrorList {
			errs, _ := v.Validate(context.Background(), field.NewPath("root"), ss, obj, old, celconfig.RuntimeCELCostBudget)
			return errs
		}
		// Both formulations must accept the sample and reject a broken
		// reference, or the comparison means nothing.
		if errs := validate(obj, nil); len(errs) != 0 {
			b.Fatalf("%s: the sample is rejected: %v", variant.name, errs)
		}
		broken := deepCopy(b, obj)
		for _, d := range broken["spec"].(map[string]any)["departments"].([]any) {
			if d := d.(map[string]any); d["id"] == "rsj" {
				d["supervisingBody"] = "nosuch"
			}
		}
		if errs := validate(broken, nil); len(errs) == 0 {
			b.Fatalf("%s: a supervisingBody that is no department was accepted", variant.name)
		}
		updated := deepCopy(b, obj)
		updated["status"] = map[string]any{"observedGeneration": int64(1)}
		b.Run("rules="+variant.name+"/create", func(b *testing.B) {
			for b.Loop() {
				validate(obj, nil)
			}
		})
		b.Run("rules="+variant.name+"/update", func(b *testing.B) {
			for b.Loop() {
				validate(updated, obj)
			}
		})
	}
}

func loadCRD(b *testing.B) *apiextensionsv1.CustomResourceDefinition {
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "bases", "xinfang.io_counties.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.UnmarshalStrict(data, crd); err != nil {
		b.Fatal(err)
	}
	return crd
}

func sample(b *testing.B) map[string]any {
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "samples", "county_anji.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	return decode(b, data)
}

// decode reads YAML as the API server reads a request: integers as int64.
func decode(b *testing.B, data []byte) map[string]any {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		b.Fatal(err)
	}
	var doc map[string]any
	if err := utiljson.Unmarshal(js, &doc); err != nil {
		b.Fatal(err)
	}
	return doc
}

func deepCopy(b *testing.B, doc map[string]any) map[string]any {
	data, err := yaml.Marshal(doc)
	if err != nil {
		b.Fatal(err)
	}
	return decode(b, data)
}

// replaceRules swaps the rule of every x-kubernetes-validations entry whose
// message is in rules and returns how many it swapped.
func replaceRules(p *apiextensionsv1.JSONSchemaProps, rules map[string]string) int {
	if p == nil {
		return 0
	}
	n := 0
	for i, r := range p.XValidations {
		if rule, ok := rules[r.Message]; ok {
			p.XValidations[i].Rule = rule
			n++
		}
	}
	for k, c := range p.Properties {
		n += replaceRules(&c, rules)
		p.Properties[k] = c
	}
	if p.Items != nil {
		n += replaceRules(p.Items.Schema, rules)
	}
	return n
}
