package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/segmentio/kafka-go"
)

func checkFigures(t *testing.T, c *county, s *sent) {
	t.Helper()
	n := int64(len(s.cases))
	sum := c.waitCounted(t, n, 3*time.Minute)
	t.Logf("statistics: registrations %d persons %d group %d online %d", sum.Counts["registrations"].Value, sum.Counts["persons"].Value, sum.Counts["group"].Value, sum.Counts["online"].Value)
	want := map[string]int64{"registrations": n, "persons": s.persons, "group": s.group, "online": s.online, "firstTime": n, "repeat": 0}
	for k, v := range want {
		if got := sum.Counts[k].Value; got != v {
			t.Errorf("statistics %s = %d, want %d (computed from what was sent)", k, got, v)
		}
	}
	// Every case routed exactly once...
	deadline := time.Now().Add(2 * time.Minute)
	for {
		sum = c.summary(t)
		routed := int64(0)
		for _, k := range []string{"transferred", "assigned", "diverted", "forwarded", "notAccepted"} {
			routed += sum.Counts[k].Value
		}
		if routed == n {
			break
		}
		if routed > n || time.Now().After(deadline) {
			t.Fatalf("routing decisions counted: %d, want %d", routed, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// ...and supervised.
	for {
		got := c.supervisedCases(t)
		missing := 0
		for _, id := range s.cases {
			if !got[id] {
				missing++
			}
		}
		if missing == 0 && len(got) == len(s.cases) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("supervision has %d cases, %d of the sent missing", len(got), missing)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The breakdown by channel matches what was sent.
	var bd struct {
		Rows []struct {
			Key    string           `json:"key"`
			Counts map[string]int64 `json:"counts"`
		} `json:"rows"`
	}
	q := fmt.Sprintf("/v1/stats/breakdown?by=channel&from=%s&to=%s", today().AddDate(0, 0, -1).Format("2006-01-02"), today().Format("2006-01-02"))
	if code, err := c.call("GET", "statistics", q, "supervisor", nil, &bd); err != nil || code != 200 {
		t.Fatalf("breakdown: %d %v", code, err)
	}
	for _, row := range bd.Rows {
		if row.Counts["registrations"] != s.byChannel[row.Key] {
			t.Errorf("channel %s: %d registrations, sent %d", row.Key, row.Counts["registrations"], s.byChannel[row.Key])
		}
	}
}

// TestDataPlane: 2,000 petitions through intake; every one routed,
// supervised and counted, and one case is one trace across the four
// services, parented across Kafka with case.id on every span.
func TestDataPlane(t *testing.T) {
	otlp := startOTLP(t)
	c := startCounty(t, otlp.url)
	s := &sent{byChannel: map[string]int64{}}
	c.register(t, 2000, 16, 0, s)
	checkFigures(t, c, s)
	checkTrace(t, otlp, s.cases[len(s.cases)/2])
	checkWireFormat(t, c)

	// A poison message goes to the dead-letter topic and the flow continues.
	w := &kafka.Writer{Addr: kafka.TCP(c.broker.Addr), RequiredAcks: kafka.RequireAll, Transport: &kafka.Transport{}}
	defer w.Close()
	if err := w.WriteMessages(context.Background(), kafka.Message{Topic: "xinfang.anji.petitions", Key: []byte("poison"), Value: []byte("not an envelope")}); err != nil {
		t.Fatal(err)
	}
	c.register(t, 50, 4, 2000, s)
	checkFigures(t, c, s)
	dead := readTopic(t, c.broker.Addr, "xinfang.anji.deadletter", 2)
	groups := map[string]bool{}
	for _, m := range dead {
		if string(m.Key) == "poison" {
			for _, h := range m.Headers {
				if h.Key == "xinfang-dlq-consumer-group" {
					groups[string(h.Value)] = true
				}
			}
		}
	}
	// Routing and statistics both consume the petitions stream.
	var routing, statistics bool
	for g := range groups {
		routing = routing || strings.HasPrefix(g, "xinfang.anji.routing")
		statistics = statistics || strings.HasPrefix(g, "xinfang.anji.statistics")
	}
	if !routing || !statistics {
		t.Errorf("dead letters of the poison message by groups %v, want routing's and statistics'", groups)
	}
}

// checkWireFormat reads a registration with kcat (an independent Kafka
// client) and decodes it with protoc and the published proto schema.
func checkWireFormat(t *testing.T, c *county) {
	t.Helper()
	for _, tool := range []string{"kcat", "protoc"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not installed (make deps installs it)", tool)
			}
			t.Skipf("%s not installed", tool)
		}
	}
	raw, err := exec.Command("kcat", "-b", c.broker.Addr, "-C", "-t", "xinfang.anji.petitions", "-p", "0", "-o", "beginning", "-c", "1", "-e", "-q", "-f", "%s").Output()
	if err != nil || len(raw) == 0 {
		t.Fatalf("kcat: %v (%d bytes)", err, len(raw))
	}
	dec := exec.Command("protoc", "--decode=xinfang.events.v1.Envelope", "-I", filepath.Join(repoRoot, "proto"), "-I", "/usr/include", "xinfang/events/v1/envelope.proto")
	dec.Stdin = bytes.NewReader(raw)
	out, err := dec.CombinedOutput()
	if err != nil {
		t.Fatalf("protoc --decode: %v\n%s", err, out)
	}
	for _, want := range []string{`county: "anji"`, `type: "petition.registered"`, "petition_registered {", "petitioner_keys:"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("decoded record lacks %s:\n%s", want, out)
		}
	}
}

// readTopic reads at least n messages from every partition of topic.
func readTopic(t *testing.T, broker, topic string, n int) []kafka.Message {
	t.Helper()
	var out []kafka.Message
	deadline := time.Now().Add(60 * time.Second)
	for len(out) < n {
		out = out[:0]
		conn, err := kafka.Dial("tcp", broker)
		if err != nil {
			t.Fatal(err)
		}
		parts, err := conn.ReadPartitions(topic)
		conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range parts {
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{broker}, Topic: topic, Partition: p.ID, MaxWait: 50 * time.Millisecond})
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			for {
				m, err := r.FetchMessage(ctx)
				if err != nil {
					break
				}
				out = append(out, m)
			}
			cancel()
			r.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("topic %s: %d messages, want %d", topic, len(out), n)
		}
	}
	return out
}

// checkTrace asserts that one case's spans from the four services form one
// trace: each consumer span is parented on (and linked to) a producer span
// of the same trace, and every span carries case.id.
func checkTrace(t *testing.T, otlp *otlpReceiver, caseID string) {
	t.Helper()
	want := map[string]bool{"xinfang-intake": true, "xinfang-routing": true, "xinfang-supervision": true, "xinfang-statistics": true}
	deadline := time.Now().Add(60 * time.Second)
	var spans []span
	for {
		spans = otlp.caseSpans(caseID)
		seen := map[string]bool{}
		for _, s := range spans {
			seen[s.service] = true
		}
		if len(seen) == len(want) || time.Now().After(deadline) {
			for svc := range want {
				if !seen[svc] {
					t.Fatalf("no span of %s for case %s (services seen: %v)", svc, caseID, seen)
				}
			}
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	traceID := spans[0].traceID
	byID := map[string]span{}
	for _, s := range spans {
		if s.traceID != traceID {
			t.Fatalf("case %s spans are in two traces: %s (%s) and %s (%s)", caseID, traceID, spans[0].name, s.traceID, s.name)
		}
		byID[s.id] = s
	}
	// Every span of that trace carries the case id.
	for _, s := range otlp.all() {
		if s.traceID == traceID && s.attrs["case.id"] != caseID {
			t.Errorf("span %s/%s of the case's trace has case.id %q", s.service, s.name, s.attrs["case.id"])
		}
	}
	consumers := 0
	for _, s := range spans {
		if !strings.HasPrefix(s.name, "process ") {
			continue
		}
		consumers++
		parent, ok := byID[s.parent]
		if !ok || !strings.HasPrefix(parent.name, "publish ") {
			t.Errorf("consumer span %s/%s is not parented on a producer span (parent %s)", s.service, s.name, s.parent)
		}
		linked := false
		for _, l := range s.links {
			linked = linked || l == s.parent
		}
		if !linked {
			t.Errorf("consumer span %s/%s does not link its producer", s.service, s.name)
		}
	}
	t.Logf("case %s: %d spans in trace %s, %d consumer spans", caseID, len(spans), traceID, consumers)
	if consumers < 3 {
		t.Errorf("only %d consumer spans in the case's trace", consumers)
	}
}

// TestDataPlaneSurvivesCrashes: each service is SIGKILLed in turn while the
// stream flows, and the broker once; after the restarts no petition is lost
// and none is counted twice.
func TestDataPlaneSurvivesCrashes(t *testing.T) {
	c := startCounty(t, "")
	s := &sent{byChannel: map[string]int64{}}
	const batch = 250
	offset := 0
	next := func() {
		c.register(t, batch, 8, offset, s)
		offset += batch
	}
	// Consumers die with messages in flight: registrations keep coming.
	for _, victim := range []string{"routing", "supervision", "statistics"} {
		done := make(chan error, 1)
		go func() { done <- c.send(batch, 8, offset, s) }()
		time.Sleep(150 * time.Millisecond)
		c.crash(t, victim)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		offset += batch
	}
	// Intake dies with its outbox still being relayed (no request in flight:
	// an unanswered request could not tell a client whether it registered).
	next()
	c.crash(t, "intake")
	// The broker dies with everything in flight.
	next()
	c.crashBroker(t)
	next()
	checkFigures(t, c, s)
}
