package county

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// TestEveryMarkerHasAGoTwin reads the kubebuilder markers from this
// package's source, as controller-gen does, and for each one breaks the
// Anji sample just past the limit (expecting Validate to object at that
// field's path with that limit) and, for bounds, just at the limit
// (expecting no objection). The CRD and the services therefore accept the
// same documents, as far as the schema markers go; the CEL rules are tested
// one by one in validate_test.go.
func TestEveryMarkerHasAGoTwin(t *testing.T) {
	fieldMarkers, typeMarkers := readMarkers(t)
	sample := loadSample(t)
	types := map[string]reflect.Type{}
	collectTypes(reflect.TypeFor[Spec](), types)

	checked := 0
	for typeName, rt := range types {
		if rt.Kind() != reflect.Struct {
			continue
		}
		for i := range rt.NumField() {
			f := rt.Field(i)
			markers := fieldMarkers[typeName+"."+f.Name]
			elem := f.Type
			for elem.Kind() == reflect.Pointer || elem.Kind() == reflect.Slice {
				elem = elem.Elem()
			}
			for _, tm := range typeMarkers[elem.Name()] {
				if tm.key == "kubebuilder:validation:Enum" {
					markers = append(markers, tm)
				}
			}
			for _, m := range markers {
				name := fmt.Sprintf("%s.%s +%s=%s", typeName, f.Name, m.key, m.value)
				t.Run(name, func(t *testing.T) {
					checkMarker(t, sample, typeName, f, m, fieldMarkers[typeName+"."+f.Name])
				})
				checked++
			}
		}
	}
	if checked < 100 {
		t.Fatalf("only %d markers checked; is the marker reader broken?", checked)
	}
}

type marker struct{ key, value string }

func checkMarker(t *testing.T, sample *Config, typeName string, f reflect.StructField, m marker, siblings []marker) {
	kind := f.Type.Kind()
	isList := kind == reflect.Slice
	items := strings.Contains(m.key, ":items:")
	key := m.key[strings.LastIndex(m.key, ":")+1:]

	// break sets the field (or its only item) to v and returns the problems
	// Validate reports at the field (or item) path.
	breakWith := func(v any) (string, []FieldError) {
		spec := sample.Spec.DeepCopy()
		path, fv := locate(t, spec, typeName, f.Name)
		if items || (isList && key == "Enum") {
			s := reflect.MakeSlice(f.Type, 1, 1)
			setScalar(s.Index(0), v)
			fv.Set(s)
			path += "[0]"
		} else {
			setScalar(fv, v)
		}
		var at []FieldError
		if err := spec.Validate(); err != nil {
			for _, fe := range fieldErrors(t, err) {
				if fe.Path == path {
					at = append(at, fe)
				}
			}
		}
		return path, at
	}
	expect := func(v any, want string) {
		t.Helper()
		path, errs := breakWith(v)
		if !hasFieldError(errs, path, want) {
			t.Errorf("setting %s to %v: want an error containing %q, got %v", path, v, want, errs)
		}
	}
	accept := func(v any, not string) {
		t.Helper()
		path, errs := breakWith(v)
		for _, fe := range errs {
			if strings.Contains(fe.Message, not) {
				t.Errorf("setting %s to %v, at the marker's limit: Go rejects it: %v", path, v, fe)
			}
		}
	}
	n := func() int {
		v, err := strconv.Atoi(m.value)
		if err != nil {
			t.Fatalf("marker value %q: %v", m.value, err)
		}
		return v
	}

	switch key {
	case "MaxLength":
		expect(strings.Repeat("a", n()+1), fmt.Sprintf("must be at most %d characters", n()))
		accept(strings.Repeat("a", n()), "characters")
	case "MinLength":
		if n() != 1 {
			t.Fatalf("Validate only knows MinLength=1 (required); got %d", n())
		}
		expect("", "required")
	case "Pattern":
		pattern := strings.Trim(m.value, "`\"")
		if pattern != idPattern.String() && pattern != divisionCodePattern.String() && pattern != datePattern.String() {
			t.Fatalf("pattern %s is not one Validate uses", pattern)
		}
		expect("Not_Valid!", "must match "+pattern)
	case "Minimum":
		expect(n()-1, fmt.Sprintf("must be at least %d", n()))
		accept(n(), "must be at least")
	case "Maximum":
		expect(n()+1, fmt.Sprintf("must be at most %d", n()))
		accept(n(), "must be at most")
	case "Enum":
		expect("bogus", `"bogus" is not one of `+strings.ReplaceAll(m.value, ";", ", "))
	case "MaxItems", "MinItems":
		spec := sample.Spec.DeepCopy()
		path, fv := locate(t, spec, typeName, f.Name)
		count := n() + 1
		want := fmt.Sprintf("must have at most %d items", n())
		if key == "MinItems" {
			count, want = n()-1, fmt.Sprintf("must have at least %d item", n())
		}
		fv.Set(repeatElem(fv, count))
		if !hasFieldError(fieldErrors(t, spec.Validate()), path, want) {
			t.Errorf("%d items at %s: want %q", count, path, want)
		}
	case "listType":
		spec := sample.Spec.DeepCopy()
		path, fv := locate(t, spec, typeName, f.Name)
		if fv.Len() == 0 {
			t.Skipf("the sample has no %s to duplicate", path)
		}
		fv.Set(repeatElem(fv, 2))
		dupPath := path + "[1]"
		if m.value == "map" {
			dupPath += "." + markerValue(siblings, "listMapKey")
		}
		if !hasFieldError(fieldErrors(t, spec.Validate()), dupPath, "duplicate") {
			t.Errorf("duplicated %s: want a duplicate error at %s", path, dupPath)
		}
	case "listMapKey", "optional", "required", "XValidation":
		// listMapKey is checked with listType; XValidation rules are
		// exercised one by one in validate_test.go.
	default:
		t.Fatalf("no Go twin known for marker +%s; teach Validate and this test about it", m.key)
	}
}

func markerValue(ms []marker, key string) string {
	for _, m := range ms {
		if m.key == key {
			return m.value
		}
	}
	return ""
}

// repeatElem returns a list of count copies of the list's first element
// (or of a zero element if it is empty).
func repeatElem(list reflect.Value, count int) reflect.Value {
	out := reflect.MakeSlice(list.Type(), count, count)
	for i := range count {
		if list.Len() > 0 {
			out.Index(i).Set(list.Index(0))
		}
	}
	return out
}

func setScalar(fv reflect.Value, v any) {
	if fv.Kind() == reflect.Pointer {
		p := reflect.New(fv.Type().Elem())
		setScalar(p.Elem(), v)
		fv.Set(p)
		return
	}
	switch x := v.(type) {
	case string:
		fv.SetString(x)
	case int:
		fv.SetInt(int64(x))
	}
}

// locate finds the first instance of typeName in spec, preferring one whose
// field is set, and returns the field's JSON path and settable value.
func locate(t *testing.T, spec *Spec, typeName, field string) (string, reflect.Value) {
	t.Helper()
	for _, wantSet := range []bool{true, false} {
		var path string
		var found reflect.Value
		walk(reflect.ValueOf(spec).Elem(), "", func(v reflect.Value, p string) bool {
			if v.Type().Name() != typeName || (wantSet && v.FieldByName(field).IsZero()) {
				return false
			}
			sf, _ := v.Type().FieldByName(field)
			name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
			path, found = joinPath(p, name), v.FieldByName(field)
			return true
		})
		if found.IsValid() {
			return path, found
		}
	}
	t.Fatalf("the Anji sample has no %s to break; add one", typeName)
	return "", reflect.Value{}
}

func joinPath(p, name string) string {
	if p == "" {
		return name
	}
	return p + "." + name
}

// walk visits every struct in v depth-first until visit returns true.
func walk(v reflect.Value, path string, visit func(reflect.Value, string) bool) bool {
	if visit(v, path) {
		return true
	}
	for i := range v.NumField() {
		fv := v.Field(i)
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
		p := joinPath(path, name)
		switch fv.Kind() {
		case reflect.Pointer:
			if !fv.IsNil() && fv.Elem().Kind() == reflect.Struct && walk(fv.Elem(), p, visit) {
				return true
			}
		case reflect.Struct:
			if walk(fv, p, visit) {
				return true
			}
		case reflect.Slice:
			for j := range fv.Len() {
				if fv.Index(j).Kind() == reflect.Struct && walk(fv.Index(j), fmt.Sprintf("%s[%d]", p, j), visit) {
					return true
				}
			}
		}
	}
	return false
}

func collectTypes(t reflect.Type, out map[string]reflect.Type) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.PkgPath() != reflect.TypeFor[Spec]().PkgPath() || out[t.Name()] != nil {
		return
	}
	out[t.Name()] = t
	if t.Kind() == reflect.Struct {
		for i := range t.NumField() {
			collectTypes(t.Field(i).Type, out)
		}
	}
}

// readMarkers parses the package source and returns the markers of struct
// fields ("Type.Field") and of types.
func readMarkers(t *testing.T) (fields, types map[string][]marker) {
	t.Helper()
	fields, types = map[string][]marker{}, map[string][]marker{}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") || strings.HasPrefix(name, "zz_generated") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, s := range gd.Specs {
				ts := s.(*ast.TypeSpec)
				doc := ts.Doc
				if doc == nil && len(gd.Specs) == 1 {
					doc = gd.Doc
				}
				types[ts.Name.Name] = parseMarkers(doc)
				st, ok := ts.Type.(*ast.StructType)
				if !ok {
					continue
				}
				for _, fld := range st.Fields.List {
					for _, n := range fld.Names {
						fields[ts.Name.Name+"."+n.Name] = parseMarkers(fld.Doc)
					}
				}
			}
		}
	}
	return fields, types
}

func parseMarkers(doc *ast.CommentGroup) []marker {
	if doc == nil {
		return nil
	}
	var out []marker
	for _, c := range doc.List {
		line := strings.TrimSpace(strings.TrimPrefix(c.Text, "//"))
		if !strings.HasPrefix(line, "+") {
			continue
		}
		k, v, _ := strings.Cut(line[1:], "=")
		if strings.HasPrefix(k, "kubebuilder:validation:XValidation") {
			k, v = "XValidation", line
		}
		out = append(out, marker{k, v})
	}
	return out
}
