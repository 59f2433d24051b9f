// Package render turns a County into the Kubernetes objects of its isolated
// instance. Every function here is pure — same County and Options, same
// objects, no I/O — so the output is covered by golden tests and the
// controllers only apply what render returns.
package render

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"xinfang.io/operator/api/v1alpha1"
)

// Services are the four services every county runs, with their ports.
var Services = []Service{
	{Name: "intake", Port: 8081, Public: true},
	{Name: "routing", Port: 8082},
	{Name: "supervision", Port: 8083},
	{Name: "statistics", Port: 8084},
}

// Service is one of the county's services.
type Service struct {
	Name string
	Port int32
	// Public services take traffic from the ingress namespace (citizens'
	// registrations and progress queries).
	Public bool
}

// CountyWorkload names the one workload of a PodPerCounty county: its
// Deployment, Service and ServiceAccount.
const CountyWorkload = "county"

// Workload is one Deployment of a county, with the ServiceAccount, Service
// and disruption budget that go with it: one service's under the
// PodPerService layout, all four's (one container each) under PodPerCounty.
type Workload struct {
	Name     string
	Services []Service
}

// Workloads are the county's Deployments, in apply order.
func Workloads(c *v1alpha1.County) []Workload {
	if c.Spec.Layout == v1alpha1.LayoutPodPerCounty {
		return []Workload{{Name: CountyWorkload, Services: Services}}
	}
	out := make([]Workload, len(Services))
	for i, s := range Services {
		out[i] = Workload{Name: s.Name, Services: []Service{s}}
	}
	return out
}

// WorkloadOf is the workload that runs service s.
func WorkloadOf(c *v1alpha1.County, s Service) Workload {
	for _, w := range Workloads(c) {
		for _, ws := range w.Services {
			if ws.Name == s.Name {
				return w
			}
		}
	}
	panic(fmt.Sprintf("service %q is in no workload", s.Name)) // Services and Workloads list the same four
}

// shared says whether the workload's pod runs more than one service: its
// containers' ports and volumes then carry the service's name, since a
// Service resolves a named target port across all containers of a pod.
func (w Workload) shared() bool { return len(w.Services) > 1 }

// Options are the operator's own settings that shape every county.
type Options struct {
	// DefaultImageRepository is the repository of the service images when a
	// County names none; images are <repository>/<service>:<tag>.
	DefaultImageRepository string
	// DefaultImageTag is the operator's own version: counties run the
	// services built with it unless they pin a tag.
	DefaultImageTag string
	// IngressNamespace may reach intake's public port.
	IngressNamespace string
	// MonitoringNamespace may scrape every service's /metrics.
	MonitoringNamespace string
	// OTLPEndpoint, when set, is exported to the services as
	// OTEL_EXPORTER_OTLP_ENDPOINT.
	OTLPEndpoint string
	// AuthJWKS is the staff-token key set (URL) the services verify with.
	AuthJWKS string
	// StrimziNamespace is where a County's spec.kafka.strimziCluster lives;
	// a county that names only the Strimzi cluster reaches it through
	// <cluster>-kafka-bootstrap.<StrimziNamespace>.svc:9092 (Strimzi's
	// bootstrap Service, plain listener on its default port).
	StrimziNamespace string
}

// Labels every object of a county carries.
const (
	LabelCounty    = "xinfang.io/county"
	LabelComponent = "app.kubernetes.io/component"
	LabelName      = "app.kubernetes.io/name"
	LabelPartOf    = "app.kubernetes.io/part-of"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "xinfang-operator"
)

// Namespace is the namespace of a county's instance.
func Namespace(c *v1alpha1.County) string { return "xinfang-" + c.Name }

// Inputs are what the operator observed about a county's surroundings and
// what shapes its objects besides the County and the Options.
type Inputs struct {
	// Kafka describes the county's Kafka credentials Secret, when the County
	// names one (spec.kafka.secretRef).
	Kafka KafkaCredentials
	// ConfigMap, when set, is ConfigMap(c) rendered before for the same
	// County generation: the county file is by far the costliest object to
	// render (a YAML encoding of the whole spec), and only a new generation
	// changes it. It is used as is.
	ConfigMap *corev1.ConfigMap
}

// Objects renders everything a county's instance consists of, in apply
// order (namespace first), for a County without Kafka credentials.
func Objects(c *v1alpha1.County, o Options) ([]client.Object, error) {
	return ObjectsWith(c, o, Inputs{})
}

// ObjectsWith renders everything a county's instance consists of, in apply
// order (namespace first).
func ObjectsWith(c *v1alpha1.County, o Options, in Inputs) ([]client.Object, error) {
	cm := in.ConfigMap
	if cm == nil {
		var err error
		if cm, err = ConfigMap(c); err != nil {
			return nil, fmt.Errorf("render %s: %w", c.Name, err)
		}
	}
	out := []client.Object{NamespaceObject(c), cm, ResourceQuota(c), LimitRange(c)}
	for _, np := range NetworkPolicies(c, o) {
		out = append(out, np)
	}
	for _, w := range Workloads(c) {
		out = append(out, ServiceAccount(c, w))
		for _, s := range w.Services {
			if pvc := DataVolumeClaim(c, s); pvc != nil {
				out = append(out, pvc)
			}
		}
		out = append(out, Deployment(c, w, o, in.Kafka), KubeService(c, w))
		if pdb := PodDisruptionBudget(c, w); pdb != nil {
			out = append(out, pdb)
		}
	}
	return out, nil
}

// Labels are the labels of a county's objects (of one component, or of the
// whole county when component is empty).
func Labels(c *v1alpha1.County, component string) map[string]string { return labels(c, component) }

func labels(c *v1alpha1.County, component string) map[string]string {
	l := map[string]string{
		LabelCounty:    c.Name,
		LabelPartOf:    "xinfang",
		LabelManagedBy: ManagedBy,
	}
	if component != "" {
		l[LabelComponent] = component
		l[LabelName] = "xinfang-" + component
	}
	return l
}

// selector is the stable pod selector of a workload (never changes, so
// Deployments can be updated in place).
func selector(c *v1alpha1.County, w Workload) map[string]string {
	return map[string]string{LabelCounty: c.Name, LabelComponent: w.Name}
}
