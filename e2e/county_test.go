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

	"xinfang.io/hack/devbroker/brokertest"
)

// county is a whole county running as separate processes: the dev broker,
// a real PostgreSQL (one database per service) and the four services.
type county struct {
	t                    testing.TB
	bin                  string
	broker               *brokertest.Broker
	brokerBin, brokerDir string
	brokerPort           int
	svc                  map[string]*process
	url                  map[string]string
	debug                map[string]string // profiler listeners, when asked for
	secret               string
	tokens               map[string]string
}

var serviceNames = []string{"intake", "routing", "supervision", "statistics"}

func postgresDSN(t testing.TB) string {
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
func databases(t testing.TB, admin string) map[string]string {
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
		// XINFANG_E2E_KEEP_DB keeps the databases to inspect after a run
		// (the outbox's and inboxes' timestamps time each hop of a case).
		if os.Getenv("XINFANG_E2E_KEEP_DB") != "" {
			t.Logf("database %s kept", name)
		} else {
			t.Cleanup(func() {
				if c, err := sql.Open("pgx", admin); err == nil {
					_, _ = c.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
					c.Close()
				}
			})
		}
		v := *u
		v.Path = "/" + name
		out[s] = v.String()
	}
	return out
}

// countyOptions vary how startCountyWith runs the county.
type countyOptions struct {
	// otlpURL receives the services' spans when set.
	otlpURL string
	// sqlite gives each service its own SQLite file instead of a
	// PostgreSQL database.
	sqlite bool
	// brokers is an already running broker to use instead of starting one.
	brokers string
	// debug gives every service a profiler listener (see debugURL).
	debug bool
	// bin holds the service binaries to run instead of this checkout's.
	bin string
}

func startCounty(t testing.TB, otlpURL string) *county {
	return startCountyWith(t, countyOptions{otlpURL: otlpURL})
}

func startCountyWith(t testing.TB, o countyOptions) *county {
	t.Helper()
	otlpURL := o.otlpURL
	bin := binaries(t)
	svcBin := bin
	if o.bin != "" {
		svcBin = o.bin
	}
	dir := t.TempDir()
	c := &county{t: t, bin: bin, svc: map[string]*process{}, url: map[string]string{}, debug: map[string]string{}, tokens: map[string]string{},
		brokerBin: filepath.Join(bin, "devbroker"), brokerDir: filepath.Join(dir, "broker")}
	brokers := o.brokers
	if brokers != "" {
		resetCountyOnBroker(t, brokers, "anji")
	}
	if brokers == "" {
		c.brokerPort = brokertest.FreePort(t)
		c.broker = brokertest.Start(context.Background(), t, c.brokerBin, c.brokerArgs()...)
		brokers = c.broker.Addr
	}
	c.secret = filepath.Join(dir, "auth.secret")
	if err := os.WriteFile(c.secret, []byte(strings.Repeat("e2e-secret-", 4)), 0o600); err != nil {
		t.Fatal(err)
	}
	dbs := map[string]string{}
	if o.sqlite {
		for _, s := range serviceNames {
			dbs[s] = filepath.Join(dir, s+".db")
		}
	} else {
		dbs = databases(t, postgresDSN(t))
	}
	driver := "postgres"
	if o.sqlite {
		driver = "sqlite"
	}
	for _, s := range serviceNames {
		addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		c.url[s] = "http://" + addr
		env := []string{
			"XINFANG_COUNTY_FILE=" + filepath.Join(repoRoot, "operator/config/samples/county_anji.yaml"),
			"XINFANG_KAFKA_BROKERS=" + brokers, "XINFANG_HTTP_ADDR=" + addr,
			"XINFANG_DB_DRIVER=" + driver, "XINFANG_DB_DSN=" + dbs[s],
			"XINFANG_AUTH_HS256_SECRET_FILE=" + c.secret, "XINFANG_LOG_FORMAT=json", "XINFANG_LOG_LEVEL=warn",
			"XINFANG_INTAKE_KEY_FILE=" + filepath.Join(dir, "intake-keys.json"), "XINFANG_INTAKE_GENERATE_KEYS=true",
			"XINFANG_INTAKE_SUBMIT_PER_MINUTE=100000", "XINFANG_INTAKE_QUERY_PER_MINUTE=100000",
			"XINFANG_SHUTDOWN_TIMEOUT=10s",
		}
		if n := serviceGOMAXPROCS(); n != "" {
			env = append(env, "GOMAXPROCS="+n)
		}
		if o.debug {
			c.debug[s] = fmt.Sprintf("127.0.0.1:%d", freePort(t))
			env = append(env, "XINFANG_DEBUG_ADDR="+c.debug[s])
		}
		if otlpURL != "" {
			env = append(env, "OTEL_EXPORTER_OTLP_ENDPOINT="+otlpURL, "OTEL_BSP_SCHEDULE_DELAY=200", "OTEL_TRACES_SAMPLER=always_on")
		} else {
			env = append(env, "OTEL_TRACES_EXPORTER=none")
		}
		c.svc[s] = newProcess(s, filepath.Join(svcBin, s), env)
		c.svc[s].start(t)
	}
	t.Cleanup(func() {
		for _, s := range serviceNames {
			c.svc[s].stop(t)
		}
		if o.brokers != "" {
			resetCountyOnBroker(t, o.brokers, "anji")
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
func (c *county) crashBroker(t testing.TB) {
	t.Helper()
	c.broker.Kill(t)
	c.broker = brokertest.Start(context.Background(), t, c.brokerBin, c.brokerArgs()...)
}

// crash SIGKILLs a service and starts it again.
func (c *county) crash(t testing.TB, name string) {
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

// apiClient keeps a connection per concurrent client: the default transport
// keeps two per host, and a load of 64 clients would spend its time in TCP
// handshakes instead of in the services.
var apiClient = &http.Client{
	Timeout:   60 * time.Second,
	Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: 30 * time.Second},
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
	resp, err := apiClient.Do(req)
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
func (c *county) register(t testing.TB, n, clients, offset int, s *sent) {
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

func (c *county) summary(t testing.TB) summary {
	t.Helper()
	var s summary
	q := fmt.Sprintf("/v1/stats/summary?from=%s&to=%s", today().AddDate(0, 0, -1).Format("2006-01-02"), today().Format("2006-01-02"))
	if code, err := c.call("GET", "statistics", q, "supervisor", nil, &s); err != nil || code != 200 {
		t.Fatalf("summary: %d %v", code, err)
	}
	return s
}

// waitCounted waits until statistics counts n registrations.
func (c *county) waitCounted(t testing.TB, n int64, within time.Duration) summary {
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
func (c *county) supervisedCases(t testing.TB) map[string]bool {
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

// serviceGOMAXPROCS is the services' GOMAXPROCS: 1, as the operator
// renders it for a county's default CPU request of 50m (its downward-API
// reference rounds up; operator/internal/render gomaxprocs).
// XINFANG_E2E_GOMAXPROCS overrides it; "node" leaves Go's default (the
// machine's CPUs), which is what the services ran with before session 16.
func serviceGOMAXPROCS() string {
	switch v := os.Getenv("XINFANG_E2E_GOMAXPROCS"); v {
	case "":
		return "1"
	case "node":
		return ""
	default:
		return v
	}
}
