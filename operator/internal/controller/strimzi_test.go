package controller

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"xinfang.io/operator/api/v1alpha1"
)

// kafkaTopicCRD is a minimal stand-in for Strimzi's KafkaTopic CRD (same
// group, version, kind and status subresource).
func kafkaTopicCRD() *apiextensionsv1.CustomResourceDefinition {
	yes := true
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "kafkatopics.kafka.strimzi.io"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "kafka.strimzi.io",
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "kafkatopics", Singular: "kafkatopic", Kind: "KafkaTopic", ListKind: "KafkaTopicList"},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1beta2", Served: true, Storage: true,
				Schema:       &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{Type: "object", XPreserveUnknownFields: &yes}},
				Subresources: &apiextensionsv1.CustomResourceSubresources{Status: &apiextensionsv1.CustomResourceSubresourceStatus{}},
			}},
		},
	}
}

func kafkaTopics(t *testing.T, county string) []unstructured.Unstructured {
	t.Helper()
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(kafkaTopicGVK.GroupVersion().WithKind("KafkaTopicList"))
	if err := k8s.List(context.Background(), list, client.InNamespace(strimziNamespace), client.MatchingLabels{"xinfang.io/county": county}); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// With spec.kafka.strimziCluster the topics are KafkaTopic objects when the
// CRD exists; before it is installed the county says so.
func TestStrimziTopics(t *testing.T) {
	needEnv(t)
	ctx := context.Background()
	s := sample(t, "strimzi")
	s.Spec.Kafka = v1alpha1.KafkaSpec{StrimziCluster: "huzhou"}
	s.Spec.DeletionPolicy = v1alpha1.DeletionPolicyDelete
	c := createCounty(t, s)
	waitCondition(t, c.Name, CondTopicsReady, metav1.ConditionFalse, ReasonStrimziNotInstalled)

	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: strimziNamespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	if _, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{CRDs: []*apiextensionsv1.CustomResourceDefinition{kafkaTopicCRD()}}); err != nil {
		t.Fatal(err)
	}
	// Installing a CRD triggers no watch of the operator: poke until the
	// next reconcile finds it.
	eventually(t, "KafkaTopics applied", func() error {
		cur := getCounty(t, c.Name)
		cond, err := condition(cur, CondTopicsReady)
		if err == nil && cond.Reason == ReasonStrimziPending {
			return nil
		}
		poke(t, c.Name)
		return fmt.Errorf("TopicsReady %v %v", cond, err)
	})
	topics := kafkaTopics(t, "strimzi")
	if len(topics) != 5 {
		t.Fatalf("%d KafkaTopics", len(topics))
	}
	for _, kt := range topics {
		name, _, _ := unstructured.NestedString(kt.Object, "spec", "topicName")
		parts, _, _ := unstructured.NestedInt64(kt.Object, "spec", "partitions")
		if kt.GetLabels()["strimzi.io/cluster"] != "huzhou" || name != kt.GetName() || parts != 6 || len(kt.GetOwnerReferences()) != 0 {
			t.Errorf("KafkaTopic %s: labels %v topicName %s partitions %d owners %v", kt.GetName(), kt.GetLabels(), name, parts, kt.GetOwnerReferences())
		}
	}

	// Strimzi's topic operator marks them Ready (played by the test).
	for i := range topics {
		kt := &topics[i]
		_ = unstructured.SetNestedField(kt.Object, kt.GetGeneration(), "status", "observedGeneration")
		_ = unstructured.SetNestedSlice(kt.Object, []any{map[string]any{"type": "Ready", "status": "True"}}, "status", "conditions")
		if err := k8s.Status().Update(ctx, kt); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "TopicsReady from Strimzi", func() error {
		cur := getCounty(t, c.Name)
		cond, err := condition(cur, CondTopicsReady)
		if err == nil && cond.Status == metav1.ConditionTrue && cond.Reason == ReasonStrimziTopicsReady {
			return nil
		}
		poke(t, c.Name)
		return fmt.Errorf("TopicsReady %v %v", cond, err)
	})

	// Delete policy: the finalizer deletes the KafkaTopics.
	if err := k8s.Delete(ctx, getCounty(t, c.Name)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "KafkaTopics deleted with the County", func() error {
		if n := len(kafkaTopics(t, "strimzi")); n != 0 {
			return fmt.Errorf("%d KafkaTopics left", n)
		}
		if err := k8s.Get(ctx, client.ObjectKey{Name: c.Name}, &v1alpha1.County{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("County still there: %v", err)
		}
		return nil
	})
}
