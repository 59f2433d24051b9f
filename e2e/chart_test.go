package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// helm finds the helm binary hack/testbin.sh built (KUBEBUILDER_ASSETS, as
// make test exports it) or one on PATH; in CI a missing helm fails.
func helm(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		if p := filepath.Join(dir, "helm"); fileExists(p) {
			return p
		}
	}
	if p, err := exec.LookPath("helm"); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("helm not found: make test exports KUBEBUILDER_ASSETS from hack/testbin.sh, which builds it")
	}
	t.Skip("helm not found; run hack/testbin.sh and export KUBEBUILDER_ASSETS")
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func runHelm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helm(t), args...)
	cmd.Dir = repoRoot
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func documents(t *testing.T, manifest string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, doc := range strings.Split(manifest, "\n---") {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatalf("rendered YAML: %v", err)
		}
		if len(m) > 0 {
			out = append(out, m)
		}
	}
	return out
}

func TestChart(t *testing.T) {
	const chart = "charts/xinfang-operator"
	if out, err := runHelm(t, "lint", "--strict", chart); err != nil {
		t.Fatalf("helm lint: %v\n%s", err, out)
	}
	out, err := runHelm(t, "template", "x", chart, "-n", "xinfang-system")
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, out)
	}
	kinds := map[string]map[string]any{}
	for _, d := range documents(t, out) {
		kinds[d["kind"].(string)] = d
	}
	for _, k := range []string{"CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ServiceAccount", "Deployment", "Service"} {
		if kinds[k] == nil {
			t.Errorf("chart renders no %s", k)
		}
	}
	// The CRD is kept on uninstall, and is the generated one.
	crd := kinds["CustomResourceDefinition"]
	ann, _ := crd["metadata"].(map[string]any)["annotations"].(map[string]any)
	if ann["helm.sh/resource-policy"] != "keep" {
		t.Errorf("CRD annotations %v: want helm.sh/resource-policy: keep", ann)
	}
	gen, err := os.ReadFile(filepath.Join(repoRoot, "operator/config/crd/bases/xinfang.io_counties.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	_ = yaml.Unmarshal(gen, &want)
	if !reflect.DeepEqual(crd["spec"], want["spec"]) {
		t.Error("the chart's CRD spec differs from operator/config/crd/bases (run make generate)")
	}
	// The ClusterRole grants exactly what controller-gen derived from the controller.
	role, err := os.ReadFile(filepath.Join(repoRoot, "operator/config/rbac/role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var genRole map[string]any
	_ = yaml.Unmarshal(role, &genRole)
	if !reflect.DeepEqual(kinds["ClusterRole"]["rules"], genRole["rules"]) {
		t.Error("the chart's ClusterRole rules differ from operator/config/rbac/role.yaml (run make generate)")
	}
	// The operator gets the county defaults as flags.
	dep, _ := yaml.Marshal(kinds["Deployment"])
	for _, flag := range []string{"--leader-elect=true", "--image-repository=", "--jwks-url=", "--max-concurrent-rollouts=", "POD_NAMESPACE"} {
		if !strings.Contains(string(dep), flag) {
			t.Errorf("operator Deployment lacks %s", flag)
		}
	}
	// crds.enabled=false leaves the CRD out; unknown values are refused.
	out, err = runHelm(t, "template", "x", chart, "--set", "crds.enabled=false")
	if err != nil || strings.Contains(out, "kind: CustomResourceDefinition") {
		t.Errorf("crds.enabled=false: %v (CRD rendered: %v)", err, strings.Contains(out, "CustomResourceDefinition"))
	}
	if out, err := runHelm(t, "template", "x", chart, "--set", "replicaCont=2"); err == nil || !strings.Contains(out, "replicaCont") {
		t.Errorf("a misspelt value was accepted: %v\n%s", err, out)
	}
}
