package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/segmentio/kafka-go"

	"xinfang.io/hack/devbroker/brokertest"
)

// county is a whole county running as separate processes: the dev broker,
// a real PostgreSQL (one database per service) and the four services.
type county struct {
	t                    *testing.T
	bin                  string
	broker               *brokertest.Broker
	brokerBin, brokerDir string
	brokerPort           int
	svc                  map[string]*process
	url                  map[string]string
	secret               string
	tokens               map[string]string
}

var serviceNames = []string{"intake", "routing", "supervision", "statistics"}

func postgresDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("XINFANG_TEST_POSTGRES_DSN")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("XINFANG_TEST_POSTGRES_DSN is not set: in CI the end-to-end suite must run (make test starts PostgreSQL)")
		}
		t.Skip("XINFANG_TEST_POSTGRES_DSN not set; run hack/postgres.sh start DIR")
	}
	return dsn
}

// databases creates one database per service and returns their DSNs.
func databases(t *testing.T, admin string) map[string]string {
	t.Helper()
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	prefix := "e2e_" + hex.EncodeToString(b)
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, s := range serviceNames {
		name := prefix + "_" + s
		if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
			t.Fatalf("create database %s: %v", name, err)
		}
		t.Cleanup(func() {
			if c, err := sql.Open("pgx", admin); err == nil {
				_, _ = c.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
				c.Close()
			}
		})
		v := *u
		v.Path = "/" + name
		out[s] = v.String()
	}
	return out
}

func startCounty(t *testing.T, otlpURL string) *county {
	t.Helper()
	bin := binaries(t)
	dir := t.TempDir()
	c := &county{t: t, bin: bin, svc: map[string]*process{}, url: map[string]string{}, tokens: map[string]string{},
		brokerBin: filepath.Join(bin, "devbroker"), brokerDir: filepath.Join(dir, "broker")}
	c.brokerPort = brokertest.FreePort(t)
	c.broker = brokertest.Start(context.Background(), t, c.brokerBin, c.brokerArgs()...)
	c.secret = filepath.Join(dir, "auth.secret")
	if err := os.WriteFile(c.secret, []byte(strings.Repeat("e2e-secret-", 4)), 0o600); err != nil {
		t.Fatal(err)
	}
	dbs := databases(t, postgresDSN(t))
	for _, s := range serviceNames {
		addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		c.url[s] = "http://" + addr
		env := []string{
			"XINFANG_COUNTY_FILE=" + filepath.Join(repoRoot, "operator/config/samples/county_anji.yaml"),
			"XINFANG_KAFKA_BROKERS=" + c.broker.Addr, "XINFANG_HTTP_ADDR=" + addr,
			"XINFANG_DB_DRIVER=postgres", "XINFANG_DB_DSN=" + dbs[s],
			"XINFANG_AUTH_HS256_SECRET_FILE=" + c.secret, "XINFANG_LOG_FORMAT=json", "XINFANG_LOG_LEVEL=warn",
			"XINFANG_INTAKE_KEY_FILE=" + filepath.Join(dir, "intake-keys.json"), "XINFANG_INTAKE_GENERATE_KEYS=true",
			"XINFANG_INTAKE_SUBMIT_PER_MINUTE=100000", "XINFANG_INTAKE_QUERY_PER_MINUTE=100000",
			"XINFANG_SHUTDOWN_TIMEOUT=10s",
		}
		if otlpURL != "" {
			env = append(env, "OTEL_EXPORTER_OTLP_ENDPOINT="+otlpURL, "OTEL_BSP_SCHEDULE_DELAY=200", "OTEL_TRACES_SAMPLER=always_on")
		} else {
			env = append(env, "OTEL_TRACES_EXPORTER=none")
		}
		c.svc[s] = newProcess(s, filepath.Join(bin, s), env)
		c.svc[s].start(t)
	}
	t.Cleanup(func() {
		for _, s := range serviceNames {
			c.svc[s].stop(t)
		}
		if t.Failed() {
			for _, s := range serviceNames {
				t.Logf("%s log (tail):\n%s", s, tail(c.svc[s].log.String(), 30))
			}
		}
	})
	for _, s := range serviceNames {
		waitReady(t, s, c.url[s]+"/readyz", 60*time.Second)
	}
	for role, dept := range map[string]string{"clerk": "", "supervisor": "", "admin": ""} {
		c.tokens[role] = c.token(role, dept)
	}
	return c
}

func (c *county) brokerArgs() []string {
	return []string{"-listen", fmt.Sprint(c.brokerPort), "-data-dir", c.brokerDir}
}

// crashBroker SIGKILLs the broker and starts it again on the same port and
// data directory.
func (c *county) crashBroker(t *testing.T) {
	t.Helper()
	c.broker.Kill(t)
	c.broker = brokertest.Start(context.Background(), t, c.brokerBin, c.brokerArgs()...)
}

// crash SIGKILLs a service and starts it again.
func (c *county) crash(t *testing.T, name string) {
	t.Helper()
	c.svc[name].kill(t)
	c.svc[name].start(t)
	waitReady(t, name, c.url[name]+"/readyz", 60*time.Second)
}

func (c *county) token(role, dept string) string {
	c.t.Helper()
	out, err := exec.Command(filepath.Join(c.bin, "devtoken"), "-secret-file", c.secret, "-role", role, "-department", dept).Output()
	if err != nil {
		c.t.Fatalf("devtoken: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// call sends a JSON request with a staff token and decodes the answer.
func (c *county) call(method, service, path, role string, body, out any) (int, error) {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.url[service]+path, r)
	if role != "" {
		req.Header.Set("Authorization", "Bearer "+c.tokens[role])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, data)
		}
	}
	return resp.StatusCode, nil
}

// sent is what the test registered, to check the figures against.
type sent struct {
	mu        sync.Mutex
	cases     []string
	persons   int64
	group     int64
	online    int64
	byChannel map[string]int64
}

var (
	channels  = []string{"web", "letter", "visit", "phone", "fax"}
	townships = []string{"dipu", "changshuo", "lingfeng", "xiaoyuan", "tianzihu", "meixi", "xilong"}
	matters   = []struct{ title, facts string }{
		{"拖欠工资", "某服装公司拖欠三个月工资共计一万二千元，多次讨要无果"},
		{"物业纠纷", "小区物业公司长期不履行维修义务，电梯多次故障"},
		{"宅基地纠纷", "邻居侵占宅基地约二十平方米，村委会调解未果"},
		{"不服判决", "对县人民法院民事判决不服，认为认定事实错误"},
		{"道路建议", "建议硬化村口道路并增设路灯，方便群众夜间出行"},
		{"噪音扰民", "楼下饭店油烟噪音扰民长达一年，多次反映未果"},
	}
)

// idNumber completes 17 digits with the GB 11643 check character.
func idNumber(first17 string) string {
	w := []int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i := 0; i < 17; i++ {
		sum += int(first17[i]-'0') * w[i]
	}
	return first17 + string("10X98765432"[sum%11])
}

// register sends n petitions from `clients` concurrent clients; every
// petitioner is a different person, so none is a repeat.
func (c *county) register(t *testing.T, n, clients, offset int, s *sent) {
	t.Helper()
	if err := c.send(n, clients, offset, s); err != nil {
		t.Fatal(err)
	}
}

// send is register for any goroutine: it returns the first failure.
func (c *county) send(n, clients, offset int, s *sent) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				k := i + offset
				ch := channels[k%len(channels)]
				persons := 1 + k%3
				if k%50 == 0 {
					persons = 12 // a group petition
				}
				m := matters[k%len(matters)]
				birth := time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, k%20000)
				body := map[string]any{
					"channel": ch, "personCount": persons, "township": townships[k%len(townships)], "title": m.title,
					"petitioners": []map[string]string{{"name": "测试", "idNumber": idNumber(fmt.Sprintf("330523%s%03d", birth.Format("20060102"), k/20000%1000)),
						"phone": "13800000000", "address": "安吉县"}},
					"content": map[string]string{"request": "请求依法处理", "facts": fmt.Sprintf("%s（编号%d）", m.facts, k), "reasons": "维护合法权益"},
				}
				var resp struct{ CaseID string }
				var code int
				var err error
				for try := 0; try < 20; try++ { // a service being restarted refuses connections for a moment
					code, err = c.call("POST", "intake", "/v1/petitions", "clerk", body, &resp)
					if err == nil && code == 201 {
						break
					}
					time.Sleep(250 * time.Millisecond)
				}
				if err != nil || code != 201 {
					errs <- fmt.Errorf("petition %d: %d %v", k, code, err)
					return
				}
				s.mu.Lock()
				s.cases = append(s.cases, resp.CaseID)
				s.persons += int64(persons)
				if persons >= 5 {
					s.group++
				}
				if ch == "web" {
					s.online++
				}
				s.byChannel[ch]++
				s.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

type summary struct {
	Counts map[string]struct {
		Value int64 `json:"value"`
	} `json:"counts"`
}

// today is the county's day (China Standard Time).
func today() time.Time { return time.Now().In(time.FixedZone("CST", 8*3600)) }

func (c *county) summary(t *testing.T) summary {
	t.Helper()
	var s summary
	q := fmt.Sprintf("/v1/stats/summary?from=%s&to=%s", today().AddDate(0, 0, -1).Format("2006-01-02"), today().Format("2006-01-02"))
	if code, err := c.call("GET", "statistics", q, "supervisor", nil, &s); err != nil || code != 200 {
		t.Fatalf("summary: %d %v", code, err)
	}
	return s
}

// waitCounted waits until statistics counts n registrations.
func (c *county) waitCounted(t *testing.T, n int64, within time.Duration) summary {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		s := c.summary(t)
		got := s.Counts["registrations"].Value
		if got == n {
			return s
		}
		if got > n {
			t.Fatalf("statistics counts %d registrations, more than the %d sent", got, n)
		}
		if time.Now().After(deadline) {
			t.Fatalf("statistics counts %d of %d registrations after %s", got, n, within)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// supervisedCases pages through supervision's case list.
func (c *county) supervisedCases(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	after := ""
	for {
		var page struct {
			Cases []struct {
				CaseID string `json:"caseId"`
			} `json:"cases"`
			Next string `json:"next"`
		}
		path := "/v1/cases?limit=500"
		if after != "" {
			path += "&after=" + url.QueryEscape(after)
		}
		if code, err := c.call("GET", "supervision", path, "supervisor", nil, &page); err != nil || code != 200 {
			t.Fatalf("list cases: %d %v", code, err)
		}
		for _, cs := range page.Cases {
			out[cs.CaseID] = true
		}
		if page.Next == "" || len(page.Cases) == 0 {
			return out
		}
		after = page.Next
	}
}

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
