package render

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	"xinfang.io/county"
	"xinfang.io/operator/api/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

var opts = Options{
	DefaultImageRepository: "registry.example.cn/xinfang", DefaultImageTag: "v0.1.0",
	IngressNamespace: "ingress-nginx", MonitoringNamespace: "monitoring",
	OTLPEndpoint: "http://otel-collector.monitoring.svc:4318", AuthJWKS: "https://idp.example.cn/jwks.json",
}

func sample(t *testing.T) *v1alpha1.County {
	t.Helper()
	data, err := os.ReadFile("../../config/samples/county_anji.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c v1alpha1.County
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		t.Fatal(err)
	}
	return &c
}

// Golden: every object of the anji sample, one file each. Run
// `go test ./internal/render -update` after an intended change and review
// the diff.
func TestGolden(t *testing.T) {
	for _, variant := range []string{"sqlite", "postgres", "kafka-credentials", "pod-per-county", "pod-per-county-postgres"} {
		t.Run(variant, func(t *testing.T) {
			c := sample(t)
			var in Inputs
			switch variant {
			case "postgres":
				three := int32(3)
				c.Spec.Database = v1alpha1.DatabaseSpec{Type: "postgres", SecretRef: &corev1.LocalObjectReference{Name: "anji-pg"}}
				c.Spec.Services.Intake.Replicas = &three
			case "pod-per-county":
				c.Spec.Layout = v1alpha1.LayoutPodPerCounty
				c.Spec.Kafka.SecretRef = &corev1.LocalObjectReference{Name: "anji-kafka"}
				in.Kafka = KafkaCredentials{TLS: true, CA: true, SASL: true, Version: "4711"}
			case "pod-per-county-postgres":
				three := int32(3)
				c.Spec.Layout = v1alpha1.LayoutPodPerCounty
				c.Spec.Database = v1alpha1.DatabaseSpec{Type: "postgres", SecretRef: &corev1.LocalObjectReference{Name: "anji-pg"}}
				c.Spec.Services.Intake.Replicas = &three
			case "kafka-credentials":
				// TLS with a private CA and a client certificate, and SCRAM:
				// only the Deployments differ from the sqlite variant.
				c.Spec.Kafka.SecretRef = &corev1.LocalObjectReference{Name: "anji-kafka"}
				in.Kafka = KafkaCredentials{TLS: true, CA: true, ClientCert: true, SASL: true, Version: "4711"}
			}
			objs, err := ObjectsWith(c, opts, in)
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join("testdata", variant)
			seen := map[string]bool{}
			for _, o := range objs {
				if _, ok := o.(*appsv1.Deployment); variant == "kafka-credentials" && !ok {
					continue
				}
				kind := o.GetObjectKind().GroupVersionKind().Kind
				if kind == "" {
					t.Fatalf("%T has no kind set", o)
				}
				name := strings.ToLower(fmt.Sprintf("%s-%s.yaml", kind, o.GetName()))
				if seen[name] {
					t.Fatalf("two objects render to %s", name)
				}
				seen[name] = true
				got, err := yaml.Marshal(o)
				if err != nil {
					t.Fatal(err)
				}
				path := filepath.Join(dir, name)
				if *update {
					_ = os.MkdirAll(dir, 0o755)
					if err := os.WriteFile(path, got, 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%s: %v (run with -update to create)", path, err)
				}
				if string(got) != string(want) {
					t.Errorf("%s differs from the golden file (run with -update and review the diff):\n%s", path, got)
				}
			}
			files, _ := os.ReadDir(dir)
			for _, f := range files {
				if !seen[f.Name()] && !*update {
					t.Errorf("golden file %s is no longer rendered", f.Name())
				}
			}
		})
	}
}

// The county file in the ConfigMap is what the services load: same id, same
// spec, same rules version.
func TestConfigMapIsTheServicesCountyFile(t *testing.T) {
	c := sample(t)
	cm, err := ConfigMap(c)
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := county.Parse([]byte(cm.Data[CountyFileKey]))
	if err != nil {
		t.Fatalf("services cannot load the rendered file: %v", err)
	}
	version, _ := c.Spec.Spec.Version()
	if loaded.ID != "anji" || loaded.Version != version || cm.Annotations[AnnotationRulesVersion] != version {
		t.Fatalf("id %q version %q, want anji %q", loaded.ID, loaded.Version, version)
	}
}

func TestWorkloadsAreLockedDown(t *testing.T) {
	deployments := deploymentsOf(t, sample(t))
	for _, d := range deployments {
		pod := d.Spec.Template.Spec
		sc := pod.Containers[0].SecurityContext
		if !*pod.SecurityContext.RunAsNonRoot || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation || sc.Capabilities.Drop[0] != "ALL" {
			t.Errorf("%s is not locked down", d.Name)
		}
		if *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
			t.Errorf("%s: a SQLite service must run one replica with Recreate", d.Name)
		}
		if len(d.Spec.Template.Annotations) != 0 {
			t.Errorf("%s: pod annotations %v would restart pods on config changes", d.Name, d.Spec.Template.Annotations)
		}
	}
	if len(deployments) != 4 {
		t.Fatalf("%d deployments, want 4", len(deployments))
	}
}

// Every container's Go parallelism is its own CPU request, in both
// layouts: a reference to another container's request, or none, would
// leave a service with the node's CPU count (docs/benchmarks.md §1, item
// 23).
func TestGOMAXPROCSIsEachContainersCPURequest(t *testing.T) {
	for _, layout := range []v1alpha1.Layout{v1alpha1.LayoutPodPerService, v1alpha1.LayoutPodPerCounty} {
		c := sample(t)
		c.Spec.Layout = layout
		containers := 0
		for _, d := range deploymentsOf(t, c) {
			for _, ctr := range d.Spec.Template.Spec.Containers {
				containers++
				var ref *corev1.ResourceFieldSelector
				for _, e := range ctr.Env {
					if e.Name == "GOMAXPROCS" && e.ValueFrom != nil {
						ref = e.ValueFrom.ResourceFieldRef
					}
				}
				if ref == nil || ref.ContainerName != ctr.Name || ref.Resource != "requests.cpu" || !ref.Divisor.Equal(resource.MustParse("1")) {
					t.Errorf("%s, container %s: GOMAXPROCS from %+v, want its own requests.cpu in whole CPUs", layout, ctr.Name, ref)
				}
			}
		}
		if containers != len(Services) {
			t.Errorf("%s: %d containers, want %d", layout, containers, len(Services))
		}
	}
}

// Kafka credentials reach every service as files of the mounted copy and
// references to its keys: no value of the Secret in any rendered object,
// and the env names are the kit's settings.
func TestKafkaCredentialsAreMountedNotCopied(t *testing.T) {
	c := sample(t)
	c.Spec.Kafka.SecretRef = &corev1.LocalObjectReference{Name: "anji-kafka"}
	objs, err := ObjectsWith(c, opts, Inputs{Kafka: KafkaCredentials{TLS: true, CA: true, SASL: true, Version: "7"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if cm, ok := o.(*corev1.ConfigMap); ok && strings.Contains(cm.Data[CountyFileKey], "anji-kafka") {
			t.Errorf("the county file names the Kafka Secret: the services must not need it")
		}
		d, ok := o.(*appsv1.Deployment)
		if !ok {
			continue
		}
		env := map[string]corev1.EnvVar{}
		for _, e := range d.Spec.Template.Spec.Containers[0].Env {
			env[e.Name] = e
		}
		if env["XINFANG_KAFKA_TLS"].Value != "true" || env["XINFANG_KAFKA_TLS_CA_FILE"].Value != KafkaCredentialsDir+"/ca.crt" ||
			env["XINFANG_KAFKA_SASL_PASSWORD_FILE"].Value != KafkaCredentialsDir+"/sasl.password" {
			t.Errorf("%s: Kafka env %v", d.Name, env)
		}
		if _, ok := env["XINFANG_KAFKA_TLS_CERT_FILE"]; ok {
			t.Errorf("%s: a client certificate the Secret does not hold", d.Name)
		}
		for _, name := range []string{"XINFANG_KAFKA_SASL_MECHANISM", "XINFANG_KAFKA_SASL_USERNAME"} {
			ref := env[name].ValueFrom
			if env[name].Value != "" || ref == nil || ref.SecretKeyRef == nil || ref.SecretKeyRef.Name != KafkaCredentialsSecret {
				t.Errorf("%s: %s is not a reference to Secret %s: %+v", d.Name, name, KafkaCredentialsSecret, env[name])
			}
		}
		mounted := false
		for _, m := range d.Spec.Template.Spec.Containers[0].VolumeMounts {
			mounted = mounted || (m.MountPath == KafkaCredentialsDir && m.ReadOnly)
		}
		if !mounted || d.Spec.Template.Annotations[AnnotationKafkaCredentials] != "7" {
			t.Errorf("%s: credentials mounted %v, version annotation %v", d.Name, mounted, d.Spec.Template.Annotations)
		}
	}
	// Without a Secret: nothing of it.
	objs, _ = Objects(sample(t), opts)
	for _, o := range objs {
		if d, ok := o.(*appsv1.Deployment); ok {
			for _, e := range d.Spec.Template.Spec.Containers[0].Env {
				if strings.HasPrefix(e.Name, "XINFANG_KAFKA_TLS") || strings.HasPrefix(e.Name, "XINFANG_KAFKA_SASL") {
					t.Errorf("%s: %s without Kafka credentials", d.Name, e.Name)
				}
			}
		}
	}
}

// A disruption budget only for a service with more than one replica: one
// that allows evicting the single pod protects nothing and costs writes.
func TestDisruptionBudgetsOnlyForReplicatedServices(t *testing.T) {
	budgets := func(c *v1alpha1.County) map[string]string {
		objs, err := Objects(c, opts)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, o := range objs {
			if pdb, ok := o.(*policyv1.PodDisruptionBudget); ok {
				out[pdb.Name] = fmt.Sprintf("minAvailable=%v maxUnavailable=%v", pdb.Spec.MinAvailable, pdb.Spec.MaxUnavailable)
			}
		}
		return out
	}
	if got := budgets(sample(t)); len(got) != 0 {
		t.Errorf("SQLite (one replica each): budgets %v, want none", got)
	}
	c := sample(t)
	one, three := int32(1), int32(3)
	c.Spec.Database = v1alpha1.DatabaseSpec{Type: "postgres"}
	c.Spec.Services.Intake.Replicas = &three
	c.Spec.Services.Routing.Replicas = &one
	// supervision and statistics: the PostgreSQL default of two.
	want := map[string]string{"intake": "minAvailable=1 maxUnavailable=<nil>", "supervision": "minAvailable=1 maxUnavailable=<nil>",
		"statistics": "minAvailable=1 maxUnavailable=<nil>"}
	if got := budgets(c); !reflect.DeepEqual(got, want) {
		t.Errorf("PostgreSQL: budgets %v, want %v", got, want)
	}
}

func TestNetworkPoliciesSelectNamespacesByTheirName(t *testing.T) {
	for _, np := range NetworkPolicies(sample(t), opts) {
		for _, rule := range np.Spec.Ingress {
			for _, peer := range rule.From {
				if peer.NamespaceSelector == nil || len(peer.NamespaceSelector.MatchLabels) != 1 ||
					peer.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] == "" || peer.PodSelector != nil {
					t.Errorf("%s: peer %+v is not selected by kubernetes.io/metadata.name", np.Name, peer)
				}
			}
		}
		if len(np.Spec.PolicyTypes) != 1 || np.Spec.PolicyTypes[0] != networkingv1.PolicyTypeIngress {
			t.Errorf("%s: policy types %v", np.Name, np.Spec.PolicyTypes)
		}
	}
}

func TestKafkaBrokers(t *testing.T) {
	c := sample(t)
	if got := KafkaBrokers(c, opts); got != "kafka.kafka.svc:9092" {
		t.Fatalf("bootstrap servers: %s", got)
	}
	c.Spec.Kafka = v1alpha1.KafkaSpec{StrimziCluster: "huzhou"}
	o := opts
	o.StrimziNamespace = "strimzi"
	if got := KafkaBrokers(c, o); got != "huzhou-kafka-bootstrap.strimzi.svc:9092" {
		t.Fatalf("strimzi: %s", got)
	}
}

// PodPerCounty: one pod runs the four services, each in its own container
// with its own resources, volume and port, behind one Service whose ports
// reach each service's container; the ingress namespace still reaches only
// intake's port.
func TestPodPerCounty(t *testing.T) {
	c := sample(t)
	c.Spec.Layout = v1alpha1.LayoutPodPerCounty
	c.Spec.Services.Statistics.Resources = corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}}
	objs, err := Objects(c, opts)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	var d *appsv1.Deployment
	var svc *corev1.Service
	var ingress *networkingv1.NetworkPolicy
	for _, o := range objs {
		count[o.GetObjectKind().GroupVersionKind().Kind]++
		switch o := o.(type) {
		case *appsv1.Deployment:
			d = o
		case *corev1.Service:
			svc = o
		case *networkingv1.NetworkPolicy:
			if o.Name == "allow-ingress-intake" {
				ingress = o
			}
		}
	}
	want := map[string]int{"Deployment": 1, "Service": 1, "ServiceAccount": 1, "PersistentVolumeClaim": 4}
	for kind, n := range want {
		if count[kind] != n {
			t.Errorf("%d %s objects, want %d", count[kind], kind, n)
		}
	}
	if d == nil || svc == nil || ingress == nil {
		t.Fatalf("deployment %v, service %v, ingress policy %v", d != nil, svc != nil, ingress != nil)
	}
	pod := d.Spec.Template.Spec
	if d.Name != CountyWorkload || svc.Name != CountyWorkload || pod.ServiceAccountName != CountyWorkload || len(pod.Containers) != 4 {
		t.Fatalf("deployment %s, service %s, account %s, %d containers", d.Name, svc.Name, pod.ServiceAccountName, len(pod.Containers))
	}
	ports := map[string]int32{} // named container ports across the pod
	for i, ctr := range pod.Containers {
		s := Services[i]
		if ctr.Name != s.Name || ctr.Image != Image(c, s, opts) {
			t.Errorf("container %d: %s %s", i, ctr.Name, ctr.Image)
		}
		for _, p := range ctr.Ports {
			if _, dup := ports[p.Name]; dup {
				t.Errorf("port name %s twice in the pod", p.Name)
			}
			ports[p.Name] = p.ContainerPort
		}
		mounts := map[string]string{}
		for _, m := range ctr.VolumeMounts {
			mounts[m.MountPath] = m.Name
		}
		if claim := claimOf(pod, mounts[dataDir]); claim != s.Name+"-data" {
			t.Errorf("%s: %s holds claim %q, want %s-data", s.Name, dataDir, claim, s.Name)
		}
		if _, ok := mounts[intakeKeysDir]; ok != (s.Name == "intake") {
			t.Errorf("%s: intake's keys mounted: %v", s.Name, ok)
		}
		if ctr.ReadinessProbe.HTTPGet.Port.StrVal != ctr.Ports[0].Name {
			t.Errorf("%s: readiness probe on port %s of %s", s.Name, ctr.ReadinessProbe.HTTPGet.Port.StrVal, ctr.Ports[0].Name)
		}
		if s.Name == "statistics" && ctr.Resources.Limits.Memory().String() != "1Gi" {
			t.Errorf("statistics' own resources not applied: %v", ctr.Resources)
		}
		if got := Endpoint(c, s); got != fmt.Sprintf("http://county.xinfang-anji.svc:%d", s.Port) {
			t.Errorf("%s: endpoint %s", s.Name, got)
		}
	}
	if len(svc.Spec.Ports) != 4 {
		t.Fatalf("service ports %v", svc.Spec.Ports)
	}
	for i, p := range svc.Spec.Ports {
		if ports[p.TargetPort.StrVal] != p.Port || p.Port != Services[i].Port {
			t.Errorf("service port %s %d targets %s, container port %d", p.Name, p.Port, p.TargetPort.StrVal, ports[p.TargetPort.StrVal])
		}
	}
	if !subset(svc.Spec.Selector, d.Spec.Template.Labels) {
		t.Errorf("service selector %v does not select pod labels %v", svc.Spec.Selector, d.Spec.Template.Labels)
	}
	if !subset(ingress.Spec.PodSelector.MatchLabels, d.Spec.Template.Labels) || len(ingress.Spec.Ingress[0].Ports) != 1 || ingress.Spec.Ingress[0].Ports[0].Port.IntVal != 8081 {
		t.Errorf("ingress policy selects %v on ports %v", ingress.Spec.PodSelector.MatchLabels, ingress.Spec.Ingress[0].Ports)
	}

	// PostgreSQL: the largest replicas any service asks for, and a budget.
	c.Spec.Database = v1alpha1.DatabaseSpec{Type: "postgres"}
	one, three := int32(1), int32(3)
	for _, r := range []struct {
		intake *int32
		want   int32
	}{{nil, 2}, {&one, 2}, {&three, 3}} {
		c.Spec.Services.Intake.Replicas = r.intake
		if got := Replicas(c, Workloads(c)[0]); got != r.want {
			t.Errorf("intake replicas %v: pod replicas %d, want %d", r.intake, got, r.want)
		}
	}
	for _, s := range []*v1alpha1.ServiceSpec{&c.Spec.Services.Intake, &c.Spec.Services.Routing, &c.Spec.Services.Supervision, &c.Spec.Services.Statistics} {
		s.Replicas = &one
	}
	if got := Replicas(c, Workloads(c)[0]); got != 1 || PodDisruptionBudget(c, Workloads(c)[0]) != nil {
		t.Errorf("every service at one replica: %d replicas, budget %v", got, PodDisruptionBudget(c, Workloads(c)[0]))
	}
}

// deploymentsOf renders c and returns its Deployments.
func deploymentsOf(t *testing.T, c *v1alpha1.County) []*appsv1.Deployment {
	t.Helper()
	objs, err := Objects(c, opts)
	if err != nil {
		t.Fatal(err)
	}
	var out []*appsv1.Deployment
	for _, o := range objs {
		if d, ok := o.(*appsv1.Deployment); ok {
			out = append(out, d)
		}
	}
	return out
}

func claimOf(pod corev1.PodSpec, volume string) string {
	for _, v := range pod.Volumes {
		if v.Name == volume && v.PersistentVolumeClaim != nil {
			return v.PersistentVolumeClaim.ClaimName
		}
	}
	return ""
}

func subset(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return len(sel) > 0
}
