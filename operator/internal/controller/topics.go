package controller

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"xinfang.io/operator/api/v1alpha1"
)

// Streams are the county's topics: xinfang.<county>.<stream>.
var Streams = []string{"petitions", "routing", "cases", "alerts", "deadletter"}

// TopicNames are a county's topics.
func TopicNames(county string) []string {
	out := make([]string, len(Streams))
	for i, s := range Streams {
		out[i] = "xinfang." + county + "." + s
	}
	return out
}

// TopicOptions configure topic provisioning.
type TopicOptions struct {
	// Partitions of a new topic (default 6). Existing topics keep theirs.
	Partitions int
	// ReplicationFactor of a new topic; -1 (default) lets the brokers'
	// default.replication.factor decide.
	ReplicationFactor int
	// StrimziNamespace holds the KafkaTopic objects: the namespace the
	// Strimzi topic operator watches, usually the Kafka cluster's (default
	// "kafka").
	StrimziNamespace string
	// Resync is how often existing topics are checked again through the
	// admin API when nothing changed (default 10m).
	Resync time.Duration
	// Timeout of one admin call (default 10s).
	Timeout time.Duration
}

func (o *TopicOptions) defaults() {
	if o.Partitions <= 0 {
		o.Partitions = 6
	}
	if o.ReplicationFactor == 0 {
		o.ReplicationFactor = -1
	}
	if o.StrimziNamespace == "" {
		o.StrimziNamespace = "kafka"
	}
	if o.Resync <= 0 {
		o.Resync = 10 * time.Minute
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
}

type topicMode int

const (
	topicsByAdmin   topicMode = iota // Kafka admin API against spec.kafka.bootstrapServers
	topicsByStrimzi                  // KafkaTopic objects
	topicsNowhere                    // Strimzi named but not installed, and no bootstrap servers
)

// topicMode picks how the county's topics are provisioned: KafkaTopic
// objects when spec.kafka.strimziCluster is set and the KafkaTopic CRD is
// installed (asked of the RESTMapper, which rediscovers a missing group on
// each call); otherwise the admin API.
func (r *CountyReconciler) topicMode(c *v1alpha1.County) (topicMode, error) {
	if c.Spec.Kafka.StrimziCluster == "" {
		return topicsByAdmin, nil
	}
	_, err := r.RESTMapper.RESTMapping(kafkaTopicGVK.GroupKind(), kafkaTopicGVK.Version)
	switch {
	case err == nil:
		return topicsByStrimzi, nil
	case meta.IsNoMatchError(err):
		if len(c.Spec.Kafka.BootstrapServers) > 0 {
			return topicsByAdmin, nil
		}
		return topicsNowhere, nil
	default:
		return topicsNowhere, fmt.Errorf("discover %s: %w", kafkaTopicGVK, err)
	}
}

// topicRecord remembers the last successful admin-API provisioning, so a
// reconcile caused by, say, a Deployment status change does not call Kafka.
// A failure is remembered too, so a county whose Kafka is down does not hold
// a worker for a dial timeout on every reconcile.
type topicRecord struct {
	generation int64
	brokers    string
	at         time.Time
	err        string // the failure, when the attempt failed
}

// reconcileTopics provisions the county's topics and sets TopicsReady. A
// Kafka that cannot be reached is not an error of the reconcile (the rest of
// the county is still applied): TopicsReady says so and it is retried soon.
func (r *CountyReconciler) reconcileTopics(ctx context.Context, c *v1alpha1.County, st *state) {
	mode, err := r.topicMode(c)
	if err != nil {
		st.set(CondTopicsReady, metav1.ConditionUnknown, ReasonKafkaUnreachable, err.Error())
		st.err(err)
		return
	}
	topics := TopicNames(c.Name)
	switch mode {
	case topicsNowhere:
		st.set(CondTopicsReady, metav1.ConditionFalse, ReasonStrimziNotInstalled,
			fmt.Sprintf("spec.kafka.strimziCluster is %q but the KafkaTopic resource (%s) is not installed, and no bootstrapServers are given", c.Spec.Kafka.StrimziCluster, kafkaTopicGVK.GroupVersion()))
		st.requeue(requeueWaiting)
	case topicsByStrimzi:
		r.reconcileStrimziTopics(ctx, c, topics, st)
	case topicsByAdmin:
		brokers := strings.Join(c.Spec.Kafka.BootstrapServers, ",")
		if v, ok := r.topicMemo.Load(c.UID); ok {
			rec := v.(topicRecord)
			fresh := rec.generation == c.Generation && rec.brokers == brokers
			switch {
			case fresh && rec.err == "" && time.Since(rec.at) < r.Topics.Resync:
				st.set(CondTopicsReady, metav1.ConditionTrue, ReasonTopicsCreated, topicsMessage(topics, brokers))
				return
			case fresh && rec.err != "" && time.Since(rec.at) < requeueError:
				st.set(CondTopicsReady, metav1.ConditionFalse, ReasonKafkaUnreachable, rec.err)
				st.requeue(requeueError - time.Since(rec.at))
				return
			}
		}
		conn, err := r.kafkaConn(ctx, c)
		if err != nil {
			st.set(CondTopicsReady, metav1.ConditionFalse, ReasonKafkaSecretInvalid, err.Error())
			st.requeue(requeueWaiting)
			return
		}
		if err := EnsureTopics(ctx, conn, r.Topics.Timeout, r.Topics.Partitions, r.Topics.ReplicationFactor, topics); err != nil {
			msg := fmt.Sprintf("brokers %s: %v", brokers, err)
			r.topicMemo.Store(c.UID, topicRecord{generation: c.Generation, brokers: brokers, at: time.Now(), err: msg})
			st.set(CondTopicsReady, metav1.ConditionFalse, ReasonKafkaUnreachable, msg)
			r.metrics.topicError(c.Name)
			st.requeue(requeueError)
			return
		}
		r.topicMemo.Store(c.UID, topicRecord{generation: c.Generation, brokers: brokers, at: time.Now()})
		st.set(CondTopicsReady, metav1.ConditionTrue, ReasonTopicsCreated, topicsMessage(topics, brokers))
	}
}

func topicsMessage(topics []string, brokers string) string {
	return fmt.Sprintf("topics %s exist on %s", strings.Join(topics, ", "), brokers)
}

// deleteTopics removes the county's topics (Delete policy, from the
// finalizer).
func (r *CountyReconciler) deleteTopics(ctx context.Context, c *v1alpha1.County) error {
	mode, err := r.topicMode(c)
	if err != nil {
		return err
	}
	topics := TopicNames(c.Name)
	switch mode {
	case topicsByStrimzi:
		return r.deleteStrimziTopics(ctx, c, topics)
	case topicsByAdmin:
		conn, err := r.kafkaConn(ctx, c)
		if err != nil {
			return err
		}
		if err := DeleteTopics(ctx, conn, r.Topics.Timeout, topics); err != nil {
			return err
		}
		r.topicMemo.Delete(c.UID)
	}
	return nil
}
