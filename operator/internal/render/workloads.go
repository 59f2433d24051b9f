package render

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"xinfang.io/operator/api/v1alpha1"
)

const (
	dataDir = "/var/lib/xinfang"
	// IntakeKeysSecret holds intake's key file (personal-data encryption and
	// the petitioner HMAC key). The operator creates it once and never
	// rewrites it: a new key would make sealed data unreadable.
	IntakeKeysSecret = "intake-keys"
	// IntakeKeysFile is the key of the key file in that Secret.
	IntakeKeysFile = "keys.json"
	intakeKeysDir  = "/etc/xinfang-intake-keys" // not under the county file's read-only mount
	// DatabaseURLKey is the key of the PostgreSQL URL in the County's
	// database secret.
	DatabaseURLKey = "url"
)

func sqlite(c *v1alpha1.County) bool { return c.Spec.Database.Type != "postgres" }

func serviceSpec(c *v1alpha1.County, s Service) v1alpha1.ServiceSpec {
	switch s.Name {
	case "intake":
		return c.Spec.Services.Intake
	case "routing":
		return c.Spec.Services.Routing
	case "supervision":
		return c.Spec.Services.Supervision
	default:
		return c.Spec.Services.Statistics
	}
}

// Replicas of a workload: an embedded SQLite database has one writer, so a
// SQLite county runs one replica per workload whatever the spec says. A
// PodPerCounty pod runs as many replicas as the most replicated of its
// services asks for (2 unless set).
func Replicas(c *v1alpha1.County, w Workload) int32 {
	if sqlite(c) {
		return 1
	}
	var most int32
	for _, s := range w.Services {
		r := int32(2)
		if p := serviceSpec(c, s).Replicas; p != nil {
			r = *p
		}
		most = max(most, r)
	}
	return most
}

// Image is the service's container image.
func Image(c *v1alpha1.County, s Service, o Options) string {
	repo, tag := c.Spec.Image.Repository, c.Spec.Image.Tag
	if repo == "" {
		repo = o.DefaultImageRepository
	}
	if tag == "" {
		tag = o.DefaultImageTag
	}
	return fmt.Sprintf("%s/%s:%s", strings.TrimSuffix(repo, "/"), s.Name, tag)
}

// DataVolumeClaim is the SQLite volume of a service (nil for PostgreSQL).
func DataVolumeClaim(c *v1alpha1.County, s Service) *corev1.PersistentVolumeClaim {
	if !sqlite(c) {
		return nil
	}
	size := c.Spec.Database.StorageSize
	if size == "" {
		size = "1Gi"
	}
	return &corev1.PersistentVolumeClaim{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: metav1.ObjectMeta{Name: s.Name + "-data", Namespace: Namespace(c), Labels: labels(c, s.Name)},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
		},
	}
}

func env(c *v1alpha1.County, s Service, o Options, k KafkaCredentials) []corev1.EnvVar {
	e := []corev1.EnvVar{
		{Name: "XINFANG_COUNTY", Value: c.Name},
		{Name: "XINFANG_COUNTY_FILE", Value: CountyFileDir + "/" + CountyFileKey},
		{Name: "XINFANG_HTTP_ADDR", Value: fmt.Sprintf("0.0.0.0:%d", s.Port)},
		{Name: "XINFANG_KAFKA_BROKERS", Value: KafkaBrokers(c, o)},
	}
	e = append(e, kafkaEnv(k)...)
	e = append(e, []corev1.EnvVar{
		// Topics are the operator's to provision (and to keep or delete).
		{Name: "XINFANG_KAFKA_CREATE_TOPICS", Value: "false"},
		{Name: "XINFANG_LOG_FORMAT", Value: "json"},
		{Name: "OTEL_SERVICE_NAME", Value: "xinfang-" + s.Name},
		{Name: "OTEL_RESOURCE_ATTRIBUTES", Value: "xinfang.county=" + c.Name},
	}...)
	if o.OTLPEndpoint != "" {
		e = append(e, corev1.EnvVar{Name: "OTEL_EXPORTER_OTLP_ENDPOINT", Value: o.OTLPEndpoint})
	}
	if o.AuthJWKS != "" {
		e = append(e, corev1.EnvVar{Name: "XINFANG_AUTH_JWKS", Value: o.AuthJWKS})
	}
	if sqlite(c) {
		e = append(e, corev1.EnvVar{Name: "XINFANG_DB_DRIVER", Value: "sqlite"},
			corev1.EnvVar{Name: "XINFANG_DB_DSN", Value: dataDir + "/" + s.Name + ".db"})
	} else {
		e = append(e, corev1.EnvVar{Name: "XINFANG_DB_DRIVER", Value: "postgres"},
			corev1.EnvVar{Name: "XINFANG_DB_DSN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: databaseSecret(c)}, Key: DatabaseURLKey}}})
	}
	if s.Name == "intake" {
		e = append(e, corev1.EnvVar{Name: "XINFANG_INTAKE_KEY_FILE", Value: intakeKeysDir + "/" + IntakeKeysFile},
			corev1.EnvVar{Name: "XINFANG_INTAKE_TRUST_PROXY", Value: "true"})
	}
	return append(e, gomaxprocs(s))
}

// gomaxprocs sets a service's Go parallelism to its CPU request, rounded
// up (the downward API rounds CPU up to the divisor): 1 for the default
// 50m. Go's own default is the node's CPU count, or the CPU limit with a
// floor of 2, and a county's services have no CPU limit. Where several
// Go processes share the cores, a process with more Ps than the CPU it
// gets spends the difference spinning for work and running GC workers on
// Ps it counts as idle: on two shared cores one P per service cut the
// four services' CPU a petition by 11–20% at saturation and 3.5–9% at
// 100 petitions/s (docs/benchmarks.md §1, item 23). A county that needs more parallelism for a service requests more
// CPU for it. An unset request reads as 0, which Go ignores.
func gomaxprocs(s Service) corev1.EnvVar {
	return corev1.EnvVar{Name: "GOMAXPROCS", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{
		ContainerName: s.Name, Resource: "requests.cpu", Divisor: resource.MustParse("1")}}}
}

// DatabaseSecret is the Secret (in the county's namespace) holding the
// PostgreSQL URL under DatabaseURLKey.
func DatabaseSecret(c *v1alpha1.County) string { return databaseSecret(c) }

// KafkaBrokers is the services' bootstrap list: spec.kafka.bootstrapServers,
// or, for a county that names only a Strimzi cluster, that cluster's
// bootstrap Service.
func KafkaBrokers(c *v1alpha1.County, o Options) string {
	if len(c.Spec.Kafka.BootstrapServers) == 0 && c.Spec.Kafka.StrimziCluster != "" {
		ns := o.StrimziNamespace
		if ns == "" {
			ns = "kafka"
		}
		return fmt.Sprintf("%s-kafka-bootstrap.%s.svc:9092", c.Spec.Kafka.StrimziCluster, ns)
	}
	return strings.Join(c.Spec.Kafka.BootstrapServers, ",")
}

func databaseSecret(c *v1alpha1.County) string {
	if c.Spec.Database.SecretRef != nil {
		return c.Spec.Database.SecretRef.Name
	}
	return "database"
}

// Deployment runs a workload: one service, or the county's four as
// containers of one pod. Each container is non-root, with a read-only root
// filesystem, no privilege escalation, all capabilities dropped, probes on
// /healthz and /readyz; pods spread across nodes. The county file is a
// mounted ConfigMap the service hot-reloads, so no config hash annotation
// forces a restart on a rules change. Kafka credentials, when the County
// has them, are mounted from the county's copy of its Kafka Secret
// (kafka.go).
func Deployment(c *v1alpha1.County, w Workload, o Options, k KafkaCredentials) *appsv1.Deployment {
	yes := true
	uid := int64(65532)
	replicas := Replicas(c, w)
	volumes := []corev1.Volume{
		{Name: "county", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: ConfigMapName}}}},
		{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	containers := make([]corev1.Container, 0, len(w.Services))
	for _, s := range w.Services {
		containers = append(containers, container(c, w, s, o, k))
		if sqlite(c) {
			volumes = append(volumes, corev1.Volume{Name: volumeName(w, s, "data"), VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: s.Name + "-data"}}})
		}
	}
	if k.Present() {
		volumes = append(volumes, k.volume())
	}
	for _, s := range w.Services {
		if s.Name == "intake" {
			volumes = append(volumes, corev1.Volume{Name: "intake-keys", VolumeSource: corev1.VolumeSource{
				Secret: &corev1.SecretVolumeSource{SecretName: IntakeKeysSecret}}})
		}
	}
	strategy := appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType}
	if sqlite(c) {
		// One writer per SQLite file: the old pod must stop before the new one
		// opens the volume.
		strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	}
	no := false
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: w.Name, Namespace: Namespace(c), Labels: labels(c, w.Name)},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: selector(c, w)},
			Strategy: strategy,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels(c, w.Name), Annotations: k.annotations()},
				Spec: corev1.PodSpec{
					ServiceAccountName:           w.Name,
					AutomountServiceAccountToken: &no,
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot: &yes, RunAsUser: &uid, RunAsGroup: &uid, FSGroup: &uid,
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
						PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
							Weight: 100,
							PodAffinityTerm: corev1.PodAffinityTerm{
								TopologyKey:   "kubernetes.io/hostname",
								LabelSelector: &metav1.LabelSelector{MatchLabels: selector(c, w)},
							},
						}},
					}},
					Containers: containers,
					Volumes:    volumes,
				},
			},
		},
	}
}

// container runs service s of workload w.
func container(c *v1alpha1.County, w Workload, s Service, o Options, k KafkaCredentials) corev1.Container {
	yes, no := true, false
	res := serviceSpec(c, s).Resources
	if res.Requests == nil && res.Limits == nil {
		res = corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
		}
	}
	port := portName(w, s)
	probe := func(path string, period int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString(port)}},
			PeriodSeconds: period, TimeoutSeconds: 3, FailureThreshold: 3,
		}
	}
	mounts := []corev1.VolumeMount{
		{Name: "county", MountPath: CountyFileDir, ReadOnly: true},
		{Name: "tmp", MountPath: "/tmp"},
	}
	if sqlite(c) {
		mounts = append(mounts, corev1.VolumeMount{Name: volumeName(w, s, "data"), MountPath: dataDir})
	}
	if k.Present() {
		mounts = append(mounts, corev1.VolumeMount{Name: kafkaVolume, MountPath: KafkaCredentialsDir, ReadOnly: true})
	}
	if s.Name == "intake" {
		mounts = append(mounts, corev1.VolumeMount{Name: "intake-keys", MountPath: intakeKeysDir, ReadOnly: true})
	}
	pull := c.Spec.Image.PullPolicy
	if pull == "" {
		pull = corev1.PullIfNotPresent
	}
	return corev1.Container{
		Name:            s.Name,
		Image:           Image(c, s, o),
		ImagePullPolicy: pull,
		Ports:           []corev1.ContainerPort{{Name: port, ContainerPort: s.Port, Protocol: corev1.ProtocolTCP}},
		Env:             env(c, s, o, k),
		Resources:       res,
		LivenessProbe:   probe("/healthz", 10),
		ReadinessProbe:  probe("/readyz", 5),
		StartupProbe:    &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString(port)}}, PeriodSeconds: 1, FailureThreshold: 60},
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: &no, ReadOnlyRootFilesystem: &yes, RunAsNonRoot: &yes,
			Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
		VolumeMounts: mounts,
	}
}

// portName is the name of service s's HTTP port: "http" in a pod of its
// own, the service's name in a shared pod (a Service finds a named target
// port in whichever container declares it first).
func portName(w Workload, s Service) string {
	if w.shared() {
		return s.Name
	}
	return "http"
}

// volumeName is the pod volume of service s's own volume called base
// (each service's SQLite file has its own claim, in a shared pod too).
func volumeName(w Workload, s Service, base string) string {
	if w.shared() {
		return s.Name + "-" + base
	}
	return base
}

// KubeService exposes a workload inside the cluster: one port per service
// it runs, each on the service's own port number.
func KubeService(c *v1alpha1.County, w Workload) *corev1.Service {
	ports := make([]corev1.ServicePort, 0, len(w.Services))
	for _, s := range w.Services {
		name := portName(w, s)
		ports = append(ports, corev1.ServicePort{Name: name, Port: s.Port, TargetPort: intstr.FromString(name), Protocol: corev1.ProtocolTCP})
	}
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: w.Name, Namespace: Namespace(c), Labels: labels(c, w.Name)},
		Spec: corev1.ServiceSpec{
			Selector: selector(c, w),
			Ports:    ports,
		},
	}
}

// Endpoint is the in-cluster URL of a county's service.
func Endpoint(c *v1alpha1.County, s Service) string {
	return fmt.Sprintf("http://%s.%s.svc:%d", WorkloadOf(c, s).Name, Namespace(c), s.Port)
}
