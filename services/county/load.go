package county

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

const (
	// APIVersion and Kind identify a whole County manifest.
	APIVersion = "xinfang.io/v1alpha1"
	Kind       = "County"
)

// OperatorOnlyFields are the keys of a County's spec that configure how the
// operator deploys the county (replicas, connections, lifecycle), not how the
// county handles petitions. Parse skips them in a whole County manifest, so
// that services can read the very manifest the operator reconciles; they
// are not part of Spec, so changing them never changes Config.Version. In a
// bare spec they are unknown fields like any other.
var OperatorOnlyFields = []string{"services", "kafka", "database", "image", "deletionPolicy", "reconciliation", "layout"}

// maxCountyIDLength keeps the operator's namespace xinfang-<county> within
// the 63 characters of a DNS label.
const maxCountyIDLength = 63 - len("xinfang-")

// Config is a validated county configuration, as loaded by a service. It is
// immutable once built: the Watcher replaces it whole, never edits it.
//
// +kubebuilder:object:generate=false
type Config struct {
	// ID is the county's id: the County's metadata.name, used in topic names
	// (xinfang.<id>.<stream>) and the namespace xinfang-<id>.
	ID string
	// Version identifies the rules in force; every routing decision records
	// it. See Spec.Version.
	Version string
	Spec    Spec
	// Calendar and Deadlines are compiled from Spec for the services' clocks.
	Calendar  *Calendar
	Deadlines DeadlineTable

	departments map[string]*Department
}

// Department returns the department with the given id.
func (c *Config) Department(id string) (*Department, bool) {
	d, ok := c.departments[id]
	return d, ok
}

// Version returns the first 16 hex digits of the SHA-256 of the spec's
// canonical JSON: the JSON encoding of the decoded Spec, whose key order is
// fixed by the struct. Formatting, comments and key order of the source file
// therefore do not change it; any change of content does.
func (s *Spec) Version() (string, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("encode county spec for hashing: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:16], nil
}

// NewConfig validates spec and builds the Config of county id.
func NewConfig(id string, spec Spec) (*Config, error) {
	if err := validateCountyID(id); err != nil {
		return nil, err
	}
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	version, err := spec.Version()
	if err != nil {
		return nil, err
	}
	cal, err := NewCalendar(spec.Calendar)
	if err != nil {
		// Validate already checked the dates; this is a bug, not bad input.
		return nil, fmt.Errorf("compile calendar of validated spec: %w", err)
	}
	c := &Config{
		ID:          id,
		Version:     version,
		Spec:        spec,
		Calendar:    cal,
		Deadlines:   spec.Deadlines.Effective(),
		departments: map[string]*Department{},
	}
	for i := range c.Spec.Departments {
		c.departments[c.Spec.Departments[i].ID] = &c.Spec.Departments[i]
	}
	return c, nil
}

func validateCountyID(id string) error {
	switch {
	case id == "":
		return errors.New("county id is missing: give metadata.name in a County manifest, an id field in a bare spec, or WithCountyID")
	case len(id) > maxCountyIDLength:
		return fmt.Errorf("county id %q is longer than %d characters, so namespace xinfang-%s would not be a valid name", id, maxCountyIDLength, id)
	case !idPattern.MatchString(id):
		return fmt.Errorf("county id %q must match %s", id, idPattern)
	}
	return nil
}

// Option adjusts Parse and Load.
//
// +kubebuilder:object:generate=false
type Option func(*options)

// +kubebuilder:object:generate=false
type options struct {
	id string
}

// WithCountyID supplies the county id for a bare spec without an id field.
// If the file names a county too, the two must agree: a service started for
// one county must not silently serve another's rules.
func WithCountyID(id string) Option {
	return func(o *options) { o.id = id }
}

// Load reads and parses a county configuration file; see Parse.
func Load(path string, opts ...Option) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read county config: %w", err)
	}
	c, err := Parse(data, opts...)
	if err != nil {
		return nil, fmt.Errorf("county config %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes and validates a county configuration in YAML or JSON: either
// a whole County manifest (apiVersion, kind, metadata.name, spec) or a bare
// spec with an optional id field. Decoding is strict: unknown fields, values
// of the wrong JSON type and duplicate keys are errors, reported with their
// paths as a *ValidationError, except the OperatorOnlyFields of a manifest's
// spec. A manifest's status is ignored.
func Parse(data []byte, opts ...Option) (*Config, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	raw, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("not valid YAML or JSON: %w", err)
	}
	var doc any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("decode county config: %w", err)
	}
	top, ok := doc.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("county config must be an object, got %s", jsonKind(doc))
	}

	var id string
	var spec map[string]any
	_, hasKind := top["kind"]
	_, hasAPIVersion := top["apiVersion"]
	if hasKind || hasAPIVersion {
		id, spec, err = fromManifest(top)
	} else {
		id, spec, err = fromBare(top)
	}
	if err != nil {
		return nil, err
	}
	switch {
	case id == "":
		id = o.id
	case o.id != "" && o.id != id:
		return nil, fmt.Errorf("file is for county %q, expected county %q", id, o.id)
	}

	var shape []FieldError
	checkShape(spec, reflect.TypeFor[Spec](), "", &shape)
	if len(shape) > 0 {
		return nil, &ValidationError{Errors: shape}
	}
	var s Spec
	if err := decodeStrict(spec, &s); err != nil {
		return nil, err
	}
	return NewConfig(id, s)
}

func fromManifest(top map[string]any) (id string, spec map[string]any, err error) {
	if v := top["apiVersion"]; v != APIVersion {
		return "", nil, fmt.Errorf("apiVersion %v is not supported, want %s", v, APIVersion)
	}
	if k := top["kind"]; k != Kind {
		return "", nil, fmt.Errorf("kind %v is not supported, want %s", k, Kind)
	}
	for k := range top {
		switch k {
		case "apiVersion", "kind", "metadata", "spec", "status":
		default:
			return "", nil, fmt.Errorf("unknown top-level field %q in County manifest", k)
		}
	}
	meta, ok := top["metadata"].(map[string]any)
	if !ok {
		return "", nil, errors.New("County manifest has no metadata object")
	}
	name, ok := meta["name"].(string)
	if !ok || name == "" {
		return "", nil, errors.New("County manifest has no metadata.name")
	}
	spec, ok = top["spec"].(map[string]any)
	if !ok {
		return "", nil, errors.New("County manifest has no spec object")
	}
	spec = maps.Clone(spec)
	for _, k := range OperatorOnlyFields {
		delete(spec, k)
	}
	return name, spec, nil
}

func fromBare(top map[string]any) (id string, spec map[string]any, err error) {
	spec = maps.Clone(top)
	if v, ok := spec["id"]; ok {
		if id, ok = v.(string); !ok {
			return "", nil, fmt.Errorf("id must be a string, got %s", jsonKind(v))
		}
		delete(spec, "id")
	}
	var misplaced []FieldError
	for _, k := range OperatorOnlyFields {
		if _, ok := spec[k]; ok {
			misplaced = append(misplaced, FieldError{Path: k, Message: "unknown field: operator-only fields are allowed only in a whole County manifest"})
			delete(spec, k)
		}
	}
	if len(misplaced) > 0 {
		return "", nil, &ValidationError{Errors: misplaced}
	}
	return id, spec, nil
}

func decodeStrict(v map[string]any, into *Spec) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("re-encode county spec: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		// checkShape has already vetted names and types; reaching this is a
		// disagreement between it and encoding/json.
		return fmt.Errorf("decode county spec: %w", err)
	}
	return nil
}

// checkShape walks a decoded JSON value alongside the Go type it will be
// decoded into and reports unknown fields and values of the wrong JSON type
// with their full paths, which encoding/json's first-error-only messages
// lack. Like the API server, it matches field names case-sensitively.
func checkShape(v any, t reflect.Type, path string, errs *[]FieldError) {
	if v == nil {
		return // null is the same as absent
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	wrong := func(want string) {
		msg := fmt.Sprintf("must be %s, got %s", want, jsonKind(v))
		if t.Kind() == reflect.String {
			if _, isNum := v.(json.Number); isNum {
				msg += " (quote it in YAML)"
			}
		}
		*errs = append(*errs, FieldError{Path: path, Message: msg})
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			wrong("an object")
			return
		}
		fields := jsonFields(t)
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			ft, ok := fields[k]
			if !ok {
				*errs = append(*errs, FieldError{Path: p, Message: "unknown field"})
				continue
			}
			checkShape(obj[k], ft, p, errs)
		}
	case reflect.Slice:
		arr, ok := v.([]any)
		if !ok {
			wrong("a list")
			return
		}
		for i, e := range arr {
			checkShape(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), errs)
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			wrong("a string")
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			wrong("true or false")
		}
	case reflect.Int32:
		n, ok := v.(json.Number)
		if !ok {
			wrong("an integer")
			return
		}
		i, err := n.Int64()
		if err != nil {
			wrong("an integer")
			return
		}
		if int64(int32(i)) != i {
			*errs = append(*errs, FieldError{Path: path, Message: fmt.Sprintf("%s is out of range", n)})
		}
	}
}

// jsonFields maps the JSON names of a struct's fields to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

func jsonKind(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("string %q", v)
	case json.Number:
		return "number " + v.String()
	case bool:
		return fmt.Sprintf("boolean %v", v)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
