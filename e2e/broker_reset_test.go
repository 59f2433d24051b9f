package e2e

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// resetCountyOnBroker deletes a county's topics and consumer groups from a
// broker shared across runs (the benchmarks'). Every run is the sample
// county: without this a new run's consumer groups would pick up where the
// last run's left off, or consume its leftovers into new databases, and the
// broker would carry every earlier run's messages — it slows with them, so
// the runs of a before/after comparison would not be on equal terms.
func resetCountyOnBroker(t testing.TB, brokers, county string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	prefix := "xinfang." + county + "."
	client := &kafka.Client{Addr: kafka.TCP(brokers), Timeout: 30 * time.Second}
	groups, err := client.ListGroups(ctx, &kafka.ListGroupsRequest{})
	if err != nil {
		t.Fatalf("reset broker: list groups: %v", err)
	}
	var ids []string
	for _, g := range groups.Groups {
		ids = append(ids, g.GroupID)
	}
	if ids = withPrefix(prefix, ids); len(ids) > 0 {
		resp, err := client.DeleteGroups(ctx, &kafka.DeleteGroupsRequest{GroupIDs: ids})
		if err != nil {
			t.Fatalf("reset broker: delete groups: %v", err)
		}
		checkDeleted(t, "group", resp.Errors, kafka.GroupIdNotFound)
	}
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{})
	if err != nil {
		t.Fatalf("reset broker: metadata: %v", err)
	}
	var topics []string
	for _, tp := range md.Topics {
		topics = append(topics, tp.Name)
	}
	if topics = withPrefix(prefix, topics); len(topics) > 0 {
		resp, err := client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: topics})
		if err != nil {
			t.Fatalf("reset broker: delete topics: %v", err)
		}
		checkDeleted(t, "topic", resp.Errors, kafka.UnknownTopicOrPartition)
	}
}

func withPrefix(prefix string, names []string) []string {
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	return out
}

// checkDeleted fails the test on a failed delete; gone (a topic or group
// deleted a moment ago that was still listed) is what was wanted.
func checkDeleted(t testing.TB, what string, errs map[string]error, gone error) {
	t.Helper()
	for name, err := range errs {
		if err != nil && !errors.Is(err, gone) {
			t.Fatalf("reset broker: delete %s %s: %v", what, name, err)
		}
	}
}
