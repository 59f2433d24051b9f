package controller

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"xinfang.io/operator/api/v1alpha1"
)

// countyEvents are the Events recorded on the County with the reason (a
// cluster-scoped object's Events are in "default").
func countyEvents(t *testing.T, county, reason string) []eventsv1.Event {
	t.Helper()
	list := &eventsv1.EventList{}
	if err := k8s.List(context.Background(), list, client.InNamespace(metav1.NamespaceDefault)); err != nil {
		t.Fatal(err)
	}
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Kind == "County" && e.Regarding.Name == county && e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}

func waitEvent(t *testing.T, county, reason string) eventsv1.Event {
	t.Helper()
	var ev eventsv1.Event
	eventually(t, fmt.Sprintf("Event %s on County %s", reason, county), func() error {
		evs := countyEvents(t, county, reason)
		if len(evs) == 0 {
			return fmt.Errorf("none yet")
		}
		ev = evs[len(evs)-1]
		return nil
	})
	return ev
}

// The operator records an Event per transition — topics created, rules
// rolled, paused — on the County, and none for reconciles that change
// nothing.
func TestEventsRecordTransitions(t *testing.T) {
	needEnv(t)
	c := createCounty(t, sample(t, "events"))
	c = waitCondition(t, c.Name, CondTopicsReady, metav1.ConditionTrue, ReasonTopicsCreated)
	ev := waitEvent(t, c.Name, EventTopicsCreated)
	if ev.Type != corev1.EventTypeNormal || ev.Regarding.UID != c.UID || !strings.Contains(ev.Note, "xinfang.events.petitions") {
		t.Errorf("TopicsCreated event: %s %s %q", ev.Type, ev.Regarding.UID, ev.Note)
	}

	// Reconciles that change nothing record nothing: still one
	// TopicsCreated, never repeated as a series.
	settle(t, c.Name)
	settle(t, c.Name)
	if evs := countyEvents(t, c.Name, EventTopicsCreated); len(evs) != 1 || evs[0].Series != nil {
		t.Errorf("TopicsCreated recorded %d times for one transition: %+v", len(evs), evs)
	}

	old := getCounty(t, c.Name).Status.RulesVersion
	c = updateCounty(t, c.Name, func(c *v1alpha1.County) { c.Spec.Departments[0].Name = "安吉县人民来访接待中心" })
	newVersion, _ := c.Spec.Spec.Version()
	ev = waitEvent(t, c.Name, EventConfigRolled)
	if !strings.Contains(ev.Note, old) || !strings.Contains(ev.Note, newVersion) {
		t.Errorf("ConfigRolled note %q does not name %s → %s", ev.Note, old, newVersion)
	}

	updateCounty(t, c.Name, func(c *v1alpha1.County) { c.Spec.Reconciliation = v1alpha1.ReconciliationPaused })
	waitEvent(t, c.Name, EventPaused)
	updateCounty(t, c.Name, func(c *v1alpha1.County) { c.Spec.Reconciliation = v1alpha1.ReconciliationActive })
	waitEvent(t, c.Name, EventResumed)
}

// Under Delete, the finalizer waits for the acceptance of each deletion, not
// for its completion: a namespace already Terminating counts as deleted
// (here there is no namespace controller, so it stays Terminating for
// ever). The cleanup is held up by a Kafka that cannot be reached, so it is
// retried with the namespace Terminating; once Kafka is back, the topics are
// deleted and the County goes while its namespace is still Terminating. A
// finalizer that waited for the namespace to be gone fails this test.
func TestDeleteWaitsOnlyForAcceptance(t *testing.T) {
	needEnv(t)
	ctx := context.Background()
	s := sample(t, "accept")
	s.Spec.DeletionPolicy = v1alpha1.DeletionPolicyDelete
	c := createCounty(t, s)
	waitCondition(t, c.Name, CondTopicsReady, metav1.ConditionTrue, ReasonTopicsCreated)
	if got := brokerTopics(t, brokers, TopicNames(c.Name)); len(got) != 5 {
		t.Fatalf("topics %v", got)
	}
	updateCounty(t, c.Name, func(c *v1alpha1.County) { c.Spec.Kafka.BootstrapServers = []string{"127.0.0.1:1"} })
	waitCondition(t, c.Name, CondTopicsReady, metav1.ConditionFalse, ReasonKafkaUnreachable)

	if err := k8s.Delete(ctx, getCounty(t, c.Name)); err != nil {
		t.Fatal(err)
	}
	ev := waitEvent(t, c.Name, EventDeletionBlocked)
	if ev.Type != corev1.EventTypeWarning || !strings.Contains(ev.Note, "delete topics") {
		t.Errorf("DeletionBlocked event: %s %q", ev.Type, ev.Note)
	}
	eventually(t, "namespace deletion asked for", func() error {
		ns := &corev1.Namespace{}
		if err := k8s.Get(ctx, client.ObjectKey{Name: "xinfang-accept"}, ns); err != nil {
			return err
		}
		if ns.DeletionTimestamp == nil {
			return fmt.Errorf("namespace not being deleted")
		}
		return nil
	})
	// Retries meanwhile find the namespace Terminating: the County waits
	// for Kafka only.
	settle(t, c.Name)
	cur := getCounty(t, c.Name)
	if cond, _ := condition(cur, CondNamespaceReady); cond != nil && cond.Reason == ReasonDeleting {
		t.Errorf("the cleanup is held by the Terminating namespace: %s", cond.Message)
	}

	updateCounty(t, c.Name, func(c *v1alpha1.County) { c.Spec.Kafka.BootstrapServers = brokers })
	eventually(t, "County gone", func() error {
		err := k8s.Get(ctx, client.ObjectKey{Name: c.Name}, &v1alpha1.County{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there: %v", err)
	})
	ns := &corev1.Namespace{}
	if err := k8s.Get(ctx, client.ObjectKey{Name: "xinfang-accept"}, ns); err != nil || ns.DeletionTimestamp == nil {
		t.Fatalf("namespace: %v (deleting: %v); want it still Terminating", err, ns.DeletionTimestamp)
	}
	if got := brokerTopics(t, brokers, TopicNames(c.Name)); len(got) != 0 {
		t.Fatalf("topics left: %v", got)
	}
	waitEvent(t, c.Name, EventCleanedUp)
}

// A topic deletion the controller accepted but did not finish within the
// request's timeout needs no retry; anything else does.
func TestTopicDeletionAccepted(t *testing.T) {
	for err, want := range map[error]bool{
		kafka.UnknownTopicOrPartition:              true,
		kafka.RequestTimedOut:                      true,
		kafka.TopicAuthorizationFailed:             false,
		kafka.NotController:                        false,
		fmt.Errorf("x: %w", kafka.RequestTimedOut): true,
	} {
		if got := deletionAccepted(err); got != want {
			t.Errorf("deletionAccepted(%v) = %v, want %v", err, got, want)
		}
	}
}
