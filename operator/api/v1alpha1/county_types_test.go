package v1alpha1

import (
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"xinfang.io/county"
)

func jsonNames(t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "" {
			continue // the inlined county.Spec
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// The services skip exactly the operator's own keys when they read a whole
// County manifest; anything else in spec is county configuration.
func TestOperatorOnlyFieldsMatchTheServicesLoader(t *testing.T) {
	got := jsonNames(reflect.TypeOf(CountySpec{}))
	want := append([]string(nil), county.OperatorOnlyFields...)
	sort.Strings(want)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("CountySpec's own fields %v differ from county.OperatorOnlyFields %v", got, want)
	}
}

// The sample decodes strictly into the CRD's Go type, and the spec the
// operator sees is the spec the services load: one schema by construction.
func TestSampleIsOneSchemaForOperatorAndServices(t *testing.T) {
	data, err := os.ReadFile("../../config/samples/county_anji.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c County
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		t.Fatalf("sample does not decode strictly into County: %v", err)
	}
	if c.Spec.Kafka.BootstrapServers == nil || c.Spec.DeletionPolicy != DeletionPolicyRetain {
		t.Fatalf("operator fields lost: %+v", c.Spec.Kafka)
	}
	loaded, err := county.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.ID != c.Name {
		t.Fatalf("county id %q vs metadata.name %q", loaded.ID, c.Name)
	}
	if !reflect.DeepEqual(loaded.Spec, c.Spec.Spec) {
		t.Fatal("the services' spec differs from the spec embedded in the County")
	}
	// A deep copy is independent of the original.
	cp := c.DeepCopy()
	cp.Spec.Departments[0].Name = "changed"
	if c.Spec.Departments[0].Name == "changed" {
		t.Fatal("DeepCopy shares the departments slice")
	}
}
