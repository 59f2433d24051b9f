package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"xinfang.io/operator/api/v1alpha1"
	"xinfang.io/operator/internal/render"
)

var kafkaTopicGVK = schema.GroupVersionKind{Group: "kafka.strimzi.io", Version: "v1beta2", Kind: "KafkaTopic"}

// KafkaTopic renders a Strimzi KafkaTopic. It has no owner reference: the
// garbage collector would delete it — and Strimzi the topic with its
// records — when a County under Retain is deleted. Under Delete the
// finalizer deletes it.
func KafkaTopic(c *v1alpha1.County, namespace, topic string, o TopicOptions) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(kafkaTopicGVK)
	u.SetName(topic)
	u.SetNamespace(namespace)
	l := render.Labels(c, "")
	l["strimzi.io/cluster"] = c.Spec.Kafka.StrimziCluster
	u.SetLabels(l)
	spec := map[string]any{"topicName": topic, "partitions": int64(o.Partitions)}
	if o.ReplicationFactor > 0 {
		spec["replicas"] = int64(o.ReplicationFactor)
	}
	u.Object["spec"] = spec
	return u
}

// reconcileStrimziTopics applies the KafkaTopic objects; TopicsReady follows
// the Strimzi topic operator's Ready condition on each.
func (r *CountyReconciler) reconcileStrimziTopics(ctx context.Context, c *v1alpha1.County, topics []string, st *state) {
	var pending, failed []string
	for _, t := range topics {
		applied, err := r.apply(ctx, c, KafkaTopic(c, r.Topics.StrimziNamespace, t, r.Topics), unowned)
		if err != nil {
			st.err(err)
			st.set(CondTopicsReady, metav1.ConditionFalse, ReasonApplyFailed, err.Error())
			return
		}
		got, err := asUnstructured(applied)
		if err != nil {
			st.err(err)
			st.set(CondTopicsReady, metav1.ConditionFalse, ReasonApplyFailed, err.Error())
			return
		}
		ready, msg := strimziReady(got)
		switch {
		case ready:
		case msg != "":
			failed = append(failed, t+": "+msg)
		default:
			pending = append(pending, t)
		}
	}
	switch {
	case len(failed) > 0:
		st.set(CondTopicsReady, metav1.ConditionFalse, ReasonStrimziPending, "Strimzi reports: "+strings.Join(failed, "; "))
		st.requeue(requeueWaiting)
	case len(pending) > 0:
		st.set(CondTopicsReady, metav1.ConditionFalse, ReasonStrimziPending,
			fmt.Sprintf("waiting for the Strimzi topic operator of cluster %s (namespace %s) to make %s Ready", c.Spec.Kafka.StrimziCluster, r.Topics.StrimziNamespace, strings.Join(pending, ", ")))
		st.requeue(requeueWaiting)
	default:
		st.set(CondTopicsReady, metav1.ConditionTrue, ReasonStrimziTopicsReady,
			fmt.Sprintf("KafkaTopics %s in namespace %s are Ready", strings.Join(topics, ", "), r.Topics.StrimziNamespace))
	}
}

// strimziReady reads a KafkaTopic's status: Ready for its current generation,
// or the message of a Ready=False condition.
func strimziReady(u *unstructured.Unstructured) (bool, string) {
	observed, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, x := range conds {
		m, ok := x.(map[string]any)
		if !ok || m["type"] != "Ready" {
			continue
		}
		if m["status"] == "True" && observed >= u.GetGeneration() {
			return true, ""
		}
		if m["status"] == "False" {
			msg, _ := m["message"].(string)
			if msg == "" {
				msg, _ = m["reason"].(string)
			}
			return false, msg
		}
	}
	return false, ""
}

func (r *CountyReconciler) deleteStrimziTopics(ctx context.Context, c *v1alpha1.County, topics []string) error {
	var errs []error
	for _, t := range topics {
		u := KafkaTopic(c, r.Topics.StrimziNamespace, t, r.Topics)
		if err := r.Client.Delete(ctx, u); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete KafkaTopic %s/%s: %w", u.GetNamespace(), t, err))
		}
	}
	return errors.Join(errs...)
}
