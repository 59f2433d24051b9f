package render

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"xinfang.io/operator/api/v1alpha1"
)

// NamespaceObject is the county's namespace, enforcing the restricted pod
// security standard.
func NamespaceObject(c *v1alpha1.County) *corev1.Namespace {
	l := labels(c, "")
	l["pod-security.kubernetes.io/enforce"] = "restricted"
	l["pod-security.kubernetes.io/enforce-version"] = "latest"
	return &corev1.Namespace{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: Namespace(c), Labels: l},
	}
}

// ServiceAccount is a workload's identity; it needs no API access, so its
// token is not mounted.
func ServiceAccount(c *v1alpha1.County, w Workload) *corev1.ServiceAccount {
	no := false
	return &corev1.ServiceAccount{
		TypeMeta:                     metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta:                   metav1.ObjectMeta{Name: w.Name, Namespace: Namespace(c), Labels: labels(c, w.Name)},
		AutomountServiceAccountToken: &no,
	}
}

// ResourceQuota caps what one county may take from the cluster, so one
// county cannot starve the others.
func ResourceQuota(c *v1alpha1.County) *corev1.ResourceQuota {
	return &corev1.ResourceQuota{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ResourceQuota"},
		ObjectMeta: metav1.ObjectMeta{Name: "xinfang", Namespace: Namespace(c), Labels: labels(c, "")},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
			corev1.ResourceRequestsCPU:            resource.MustParse("4"),
			corev1.ResourceRequestsMemory:         resource.MustParse("4Gi"),
			corev1.ResourceLimitsMemory:           resource.MustParse("8Gi"),
			corev1.ResourcePods:                   resource.MustParse("40"),
			corev1.ResourcePersistentVolumeClaims: resource.MustParse("8"),
			corev1.ResourceRequestsStorage:        resource.MustParse("100Gi"),
		}},
	}
}

// LimitRange gives containers without explicit resources sane defaults.
func LimitRange(c *v1alpha1.County) *corev1.LimitRange {
	return &corev1.LimitRange{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "LimitRange"},
		ObjectMeta: metav1.ObjectMeta{Name: "xinfang", Namespace: Namespace(c), Labels: labels(c, "")},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type:           corev1.LimitTypeContainer,
			DefaultRequest: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
			Default:        corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
		}}},
	}
}
