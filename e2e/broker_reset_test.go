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
		if strings.HasPrefix(g.GroupID, prefix) {
			ids = append(ids, g.GroupID)
		}
	}
	if len(ids) > 0 {
		resp, err := client.DeleteGroups(ctx, &kafka.DeleteGroupsRequest{GroupIDs: ids})
		if err != nil {
			t.Fatalf("reset broker: delete groups: %v", err)
		}
		for id, err := range resp.Errors {
			if err != nil && !errors.Is(err, kafka.GroupIdNotFound) {
				t.Fatalf("reset broker: delete group %s: %v", id, err)
			}
		}
	}
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{})
	if err != nil {
		t.Fatalf("reset broker: metadata: %v", err)
	}
	var topics []string
	for _, tp := range md.Topics {
		if strings.HasPrefix(tp.Name, prefix) {
			topics = append(topics, tp.Name)
		}
	}
	if len(topics) > 0 {
		resp, err := client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: topics})
		if err != nil {
			t.Fatalf("reset broker: delete topics: %v", err)
		}
		// A topic deleted a moment ago may still be listed: gone is gone.
		for name, err := range resp.Errors {
			if err != nil && !errors.Is(err, kafka.UnknownTopicOrPartition) {
				t.Fatalf("reset broker: delete topic %s: %v", name, err)
			}
		}
	}
}
