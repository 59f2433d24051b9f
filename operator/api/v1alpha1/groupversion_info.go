// Package v1alpha1 is the xinfang.io/v1alpha1 API: the cluster-scoped County
// resource from which the operator provisions one isolated county instance.
// +kubebuilder:object:generate=true
// +groupName=xinfang.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the API group and version of the County resource.
	GroupVersion = schema.GroupVersion{Group: "xinfang.io", Version: "v1alpha1"}

	// SchemeBuilder registers the types of this group version.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types of this group version to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
