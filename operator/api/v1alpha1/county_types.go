package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"xinfang.io/county"
)

// CountySpec is the county's configuration — the very type the services
// read from their rules file (xinfang.io/county.Spec, inlined) — plus what
// only the operator needs to run the county. The operator-only fields are
// exactly county.OperatorOnlyFields; a test keeps the two lists equal.
type CountySpec struct {
	county.Spec `json:",inline"`

	// Image is the container image of the four services.
	// +optional
	Image ImageSpec `json:"image,omitempty"`

	// Services sets replicas and resources per service.
	// +optional
	Services ServicesSpec `json:"services,omitempty"`

	// Layout is how the four services are packed into pods. PodPerService
	// (default) runs each service as its own Deployment, Service and
	// ServiceAccount, each scaled by its own replicas. PodPerCounty runs
	// the four as containers of one pod (one Deployment, one Service named
	// "county" with a port per service): a quarter of the pods and about a
	// third of the writes the control plane handles per county, for
	// clusters that host many small counties; its replicas are the largest
	// of the services'.
	// Chosen when the County is created.
	// +optional
	// +kubebuilder:default=PodPerService
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="layout is chosen when the County is created"
	Layout Layout `json:"layout,omitempty"`

	// Kafka is how the county's services reach Kafka.
	Kafka KafkaSpec `json:"kafka"`

	// Database is where the services keep their state.
	// +optional
	Database DatabaseSpec `json:"database,omitempty"`

	// DeletionPolicy says what deleting the County does to its records:
	// Retain (default) keeps the namespace's data and the topics; Delete
	// removes them.
	// +optional
	// +kubebuilder:default=Retain
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// Reconciliation pauses the operator for this county (Paused), e.g.
	// during a manual repair; Active by default.
	// +optional
	// +kubebuilder:default=Active
	Reconciliation ReconciliationMode `json:"reconciliation,omitempty"`
}

// ImageSpec names the services' image.
type ImageSpec struct {
	// +optional
	// +kubebuilder:validation:MaxLength=255
	Repository string `json:"repository,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Tag string `json:"tag,omitempty"`
	// +optional
	PullPolicy corev1.PullPolicy `json:"pullPolicy,omitempty"`
}

// ServicesSpec holds per-service settings.
type ServicesSpec struct {
	// +optional
	Intake ServiceSpec `json:"intake,omitempty"`
	// +optional
	Routing ServiceSpec `json:"routing,omitempty"`
	// +optional
	Supervision ServiceSpec `json:"supervision,omitempty"`
	// +optional
	Statistics ServiceSpec `json:"statistics,omitempty"`
}

// ServiceSpec sizes one service.
type ServiceSpec struct {
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=20
	Replicas *int32 `json:"replicas,omitempty"`
	// Resources of each of the service's containers (default: requests
	// cpu 50m and memory 64Mi, limits memory 256Mi). The CPU request,
	// rounded up to whole CPUs, is the service's GOMAXPROCS: 1 by default.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`
}

// KafkaSpec locates the Kafka cluster.
// +kubebuilder:validation:XValidation:rule="has(self.bootstrapServers) || has(self.strimziCluster)",message="set bootstrapServers or strimziCluster"
type KafkaSpec struct {
	// BootstrapServers are host:port pairs.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=255
	BootstrapServers []string `json:"bootstrapServers,omitempty"`
	// SecretRef names a Secret (in the operator's namespace) with TLS/SASL
	// settings.
	// +optional
	SecretRef *corev1.LocalObjectReference `json:"secretRef,omitempty"`
	// StrimziCluster names a Strimzi Kafka cluster; topics are then created as
	// KafkaTopic objects.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	StrimziCluster string `json:"strimziCluster,omitempty"`
}

// DatabaseSpec chooses the services' store.
type DatabaseSpec struct {
	// Type is sqlite (embedded, on a volume; one replica per service) or
	// postgres.
	// +optional
	// +kubebuilder:default=sqlite
	// +kubebuilder:validation:Enum=sqlite;postgres
	Type string `json:"type,omitempty"`
	// SecretRef names a Secret with the PostgreSQL connection URL under key
	// "url", for type postgres.
	// +optional
	SecretRef *corev1.LocalObjectReference `json:"secretRef,omitempty"`
	// StorageSize of each service's SQLite volume.
	// +optional
	// +kubebuilder:validation:MaxLength=16
	StorageSize string `json:"storageSize,omitempty"`
}

// Layout is how a county's services are packed into pods.
// +kubebuilder:validation:Enum=PodPerService;PodPerCounty
type Layout string

const (
	LayoutPodPerService Layout = "PodPerService"
	LayoutPodPerCounty  Layout = "PodPerCounty"
)

// DeletionPolicy is what deleting a County does to its records.
// +kubebuilder:validation:Enum=Retain;Delete
type DeletionPolicy string

const (
	DeletionPolicyRetain DeletionPolicy = "Retain"
	DeletionPolicyDelete DeletionPolicy = "Delete"
)

// ReconciliationMode pauses or resumes the operator for one county.
// +kubebuilder:validation:Enum=Active;Paused
type ReconciliationMode string

const (
	ReconciliationActive ReconciliationMode = "Active"
	ReconciliationPaused ReconciliationMode = "Paused"
)

// CountyStatus is what the operator observed, written by patch.
type CountyStatus struct {
	// ObservedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready summarises NamespaceReady, ConfigReady, TopicsReady,
	// DatabaseReady, WorkloadsAvailable and IsolationReady.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Endpoints are the services' in-cluster URLs.
	// +optional
	Endpoints map[string]string `json:"endpoints,omitempty"`
	// RulesVersion is the county rules version the services run.
	// +optional
	RulesVersion string `json:"rulesVersion,omitempty"`
}

// County is one county petition bureau's Xinfang instance.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=cty
// +kubebuilder:printcolumn:name="Code",type=string,JSONPath=`.spec.divisionCode`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Layout",type=string,JSONPath=`.spec.layout`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 55",message="a county name is at most 55 characters (the namespace is xinfang-<name>)"
type County struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +kubebuilder:validation:XValidation:rule="!has(oldSelf.divisionCode) || self.divisionCode == oldSelf.divisionCode",message="divisionCode is immutable"
	Spec   CountySpec   `json:"spec,omitempty"`
	Status CountyStatus `json:"status,omitempty"`
}

// CountyList is a list of Counties.
// +kubebuilder:object:root=true
type CountyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []County `json:"items"`
}

func init() {
	SchemeBuilder.Register(&County{}, &CountyList{})
}
