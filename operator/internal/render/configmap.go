package render

import (
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"xinfang.io/operator/api/v1alpha1"
)

const (
	// ConfigMapName holds the county file the services read and hot-reload.
	ConfigMapName = "county"
	// CountyFileKey is the file's name in the ConfigMap and its mount.
	CountyFileKey = "county.yaml"
	// CountyFileDir is where the services find it.
	CountyFileDir = "/etc/xinfang"
	// AnnotationRulesVersion carries the content hash of the county rules.
	AnnotationRulesVersion = "xinfang.io/rules-version"
)

// ConfigMap renders the County's spec as the services' county file: the
// bare spec (the same Go type, county.Spec) plus the county id. The services
// watch the mounted file and reload it without a restart, so a rules change
// never touches the Deployments.
func ConfigMap(c *v1alpha1.County) (*corev1.ConfigMap, error) {
	version, err := c.Spec.Spec.Version()
	if err != nil {
		return nil, fmt.Errorf("county file: %w", err)
	}
	raw, err := json.Marshal(c.Spec.Spec)
	if err != nil {
		return nil, fmt.Errorf("county file: %w", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("county file: %w", err)
	}
	doc["id"] = c.Name
	out, err := yaml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("county file: %w", err)
	}
	header := fmt.Sprintf("# County %s (%s), rendered by the xinfang operator from the County resource.\n# Rules version %s. Edit the County, not this file.\n", c.Name, c.Spec.DisplayName, version)
	return &corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: ConfigMapName, Namespace: Namespace(c), Labels: labels(c, ""),
			Annotations: map[string]string{AnnotationRulesVersion: version}},
		Data: map[string]string{CountyFileKey: header + string(out)},
	}, nil
}
