package intake_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/intake"
	"xinfang.io/services/kit/apierror"
	"xinfang.io/services/kit/auth"
	"xinfang.io/services/kit/kafkatransport"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
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

func petition(id, name, title, facts string) intake.RegisterRequest {
	return intake.RegisterRequest{
		Channel:     "letter",
		Petitioners: []intake.Petitioner{{Name: name, IDNumber: id, Phone: "13812345678", Address: "安吉县递铺街道文昌路8号"}},
		Township:    "dipu",
		Title:       title,
		Content:     intake.Content{Request: "请求依法处理", Facts: facts, Reasons: "维护合法权益"},
		ReceivedAt:  "2026-11-20",
	}
}

const wages = "某服装公司拖欠我和工友三个月工资共计一万二千元，多次讨要无果"

func TestRegisterKeepsIDNumbersOutOfDatabaseAndKafka(t *testing.T) {
	storetest.EachDSN(t, func(t *testing.T, d store.Dialect, dsn string) {
		h := start(t, d, dsn)
		id := idNumber("33052319750615123")
		clerk := token(t, auth.RoleClerk, "", "anji")
		var reg intake.RegisterResponse
		req := petition(id, "王五", "拖欠工资", wages+"，我的身份证号"+id)
		if code := h.do("POST", "/v1/petitions", clerk, req, &reg); code != 201 {
			t.Fatalf("register = %d", code)
		}
		if reg.CaseID == "" || len(reg.QueryCode) != 19 || reg.RepeatOf != nil || reg.Group {
			t.Fatalf("response = %+v", reg)
		}
		msgs := h.topic(eventsv1.StreamPetitions, 1)
		env, err := kafkatransport.DecodeEnvelope(msgs[0])
		if err != nil {
			t.Fatal(err)
		}
		pr := env.GetPetitionRegistered()
		if env.CaseId != reg.CaseID || len(pr.PetitionerKeys) != 1 || len(pr.PetitionerKeys[0]) != 64 || pr.RoutingDue == "" {
			t.Fatalf("event = %v", env)
		}
		for _, m := range msgs {
			if bytes.Contains(m.Value, []byte(id)) || bytes.Contains(m.Key, []byte(id)) {
				t.Fatal("ID number in plaintext on Kafka")
			}
			for _, hd := range m.Headers {
				if bytes.Contains(hd.Value, []byte(id)) {
					t.Fatal("ID number in a Kafka header")
				}
			}
		}
		if found := searchDatabase(t, h, d, dsn, id); found != "" {
			t.Fatalf("ID number in plaintext in the database: %s", found)
		}
		// The staff view decrypts it for a clerk.
		var view intake.PetitionView
		if code := h.do("GET", "/v1/petitions/"+reg.CaseID, clerk, nil, &view); code != 200 || view.Petitioners[0].IDNumber != id {
			t.Fatalf("staff view = %d %+v", code, view.Petitioners)
		}
		// A rejected registration names the field, not the number; and no
		// log line at debug level carries the number.
		bad := petition(id[:17]+"0", "王五", "拖欠工资", wages)
		if id[17] == '0' {
			bad = petition(id[:17]+"1", "王五", "拖欠工资", wages)
		}
		h.do("POST", "/v1/petitions", clerk, bad, nil)
		logs := h.logs.String()
		if !strings.Contains(logs, "personal data read") || !strings.Contains(logs, "petition registered") {
			t.Fatalf("expected log lines missing:\n%s", logs)
		}
		if strings.Contains(logs, id) || strings.Contains(logs, id[:17]) {
			t.Fatal("ID number in the logs")
		}
	})
}

// searchDatabase looks for needle in every byte the database keeps: the
// SQLite file and its WAL, or every row of every table in PostgreSQL.
func searchDatabase(t *testing.T, h *harness, d store.Dialect, dsn, needle string) string {
	t.Helper()
	if d == store.SQLite {
		for _, f := range []string{dsn, dsn + "-wal"} {
			data, err := os.ReadFile(f)
			if err != nil && f == dsn {
				t.Fatal(err)
			}
			if bytes.Contains(data, []byte(needle)) {
				return f
			}
		}
		return ""
	}
	ctx := context.Background()
	rows, err := h.app.DB.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		_ = rows.Scan(&name)
		tables = append(tables, name)
	}
	rows.Close()
	if len(tables) < 5 {
		t.Fatalf("only %d tables found: %v", len(tables), tables)
	}
	for _, tb := range tables {
		var n int
		if err := h.app.DB.QueryRow(ctx, `SELECT COUNT(*) FROM `+tb+` r WHERE r::text LIKE ?`, "%"+needle+"%").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return "table " + tb
		}
	}
	return ""
}

func TestPublicQueryShowsProgressWithoutPersonalData(t *testing.T) {
	h := start(t, store.SQLite, storetest.SQLiteDSN(t))
	clerk := token(t, auth.RoleClerk, "", "anji")
	var reg intake.RegisterResponse
	if code := h.do("POST", "/v1/petitions", clerk, petition(idNumber("33052319750615123"), "王五", "拖欠工资", wages), &reg); code != 201 {
		t.Fatalf("register = %d", code)
	}
	// Routing assigns it; the timeline follows (a duplicate changes nothing).
	assigned := &eventsv1.Envelope{EventId: "ev-assign-1", County: "anji", CaseId: reg.CaseID, OccurredAt: timestamppb.New(h.clock.Now())}
	_ = assigned.SetPayload(&eventsv1.CaseAssigned{Mode: eventsv1.AssignMode_ASSIGN_MODE_ASSIGN, LeadDepartment: "rsj", AcknowledgeDue: "2026-12-01"})
	h.publish(assigned, assigned)

	var q intake.QueryResponse
	deadline := time.Now().Add(30 * time.Second)
	for {
		if code := h.do("GET", "/v1/query/"+strings.ToLower(reg.QueryCode), "", nil, &q); code != 200 {
			t.Fatalf("query = %d", code)
		}
		if q.Status == "assigned" || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if q.Status != "assigned" || len(q.Timeline) != 2 || q.Timeline[0].Kind != "registered" || q.Timeline[0].Date != "2026-11-20" ||
		!strings.Contains(q.Timeline[1].Label, "安吉县人力资源和社会保障局") {
		t.Fatalf("query = %+v", q)
	}
	time.Sleep(300 * time.Millisecond) // a duplicate timeline entry would appear by now
	h.do("GET", "/v1/query/"+reg.QueryCode, "", nil, &q)
	if len(q.Timeline) != 2 {
		t.Fatalf("duplicate event added a timeline entry: %+v", q.Timeline)
	}
	raw := fmt.Sprint(q)
	for _, private := range []string{"王五", "13812345678", "文昌路", "拖欠工资", "33052319750615123"} {
		if strings.Contains(raw, private) {
			t.Errorf("public query shows %q", private)
		}
	}
	// Unknown and malformed codes get the same answer.
	var a, b apierror.Error
	codeA := h.do("GET", "/v1/query/AAAA-BBBB-CCCC-DDDD", "", nil, &a)
	codeB := h.do("GET", "/v1/query/not-a-code", "", nil, &b)
	if codeA != 404 || codeB != 404 || a.Message != b.Message {
		t.Fatalf("unknown %d %+v vs malformed %d %+v", codeA, a, codeB, b)
	}
}

func TestStaffViewAuthorization(t *testing.T) {
	h := start(t, store.SQLite, storetest.SQLiteDSN(t))
	clerk := token(t, auth.RoleClerk, "", "anji")
	var reg intake.RegisterResponse
	acc := petition(idNumber("33052319750615123"), "赵六", "举报某局干部违规", "县住建局某干部收受开发商财物")
	acc.Category, acc.Respondent = "检举控告", "zjj"
	if code := h.do("POST", "/v1/petitions", clerk, acc, &reg); code != 201 {
		t.Fatalf("register = %d", code)
	}
	// Routed to the discipline body, as the accusation guard requires.
	env := &eventsv1.Envelope{EventId: "ev-a", County: "anji", CaseId: reg.CaseID, OccurredAt: timestamppb.Now()}
	_ = env.SetPayload(&eventsv1.CaseAssigned{LeadDepartment: "jwjw", CoDepartments: []string{"zjj"}})
	h.publish(env)
	waitStatus(t, h, reg.QueryCode, "assigned")

	var view intake.PetitionView
	cases := []struct {
		tok  string
		want int
	}{
		{"", 401},
		{"garbage", 401},
		{token(t, auth.RoleClerk, "", "changxing"), 403},
		{token(t, auth.RoleDepartment, "rsj", "anji"), 404}, // not its case
		{token(t, auth.RoleDepartment, "zjj", "anji"), 404}, // the accused never sees it
		{token(t, auth.RoleDepartment, "jwjw", "anji"), 200},
		{token(t, auth.RoleSupervisor, "", "anji"), 200},
	}
	for i, c := range cases {
		if got := h.do("GET", "/v1/petitions/"+reg.CaseID, c.tok, nil, &view); got != c.want {
			t.Errorf("case %d: status %d, want %d", i, got, c.want)
		}
	}
	// Citizens may register online only; a department may not register.
	web := petition("", "钱七", "道路破损", "村口道路破损严重")
	web.Channel, web.ReceivedAt = "web", ""
	if code := h.do("POST", "/v1/petitions", "", web, &reg); code != 201 {
		t.Fatalf("anonymous web registration = %d", code)
	}
	web.Channel = "letter"
	var e apierror.Error
	if code := h.do("POST", "/v1/petitions", "", web, &e); code != 400 || e.Fields["channel"] == "" {
		t.Fatalf("anonymous letter = %d %+v", code, e)
	}
	if code := h.do("POST", "/v1/petitions", token(t, auth.RoleDepartment, "rsj", "anji"), web, nil); code != 403 {
		t.Fatalf("department registering = %d", code)
	}
	if code := h.do("POST", "/v1/petitions", clerk, []byte(`{"channel":"web",`), &e); code != 400 || e.Kind != apierror.BadRequest {
		t.Fatalf("malformed body = %d %+v", code, e)
	}
}

func waitStatus(t *testing.T, h *harness, code, status string) {
	t.Helper()
	var q intake.QueryResponse
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		h.do("GET", "/v1/query/"+code, "", nil, &q)
		if q.Status == status {
			return
		}
		time.Sleep(30 * time.Millisecond)
	}
	t.Fatalf("status %q, want %q", q.Status, status)
}

// Both stores: on PostgreSQL the lookup runs before the registration's
// transaction, on SQLite inside it.
func TestRepeatDetection(t *testing.T) {
	storetest.EachDSN(t, func(t *testing.T, d store.Dialect, dsn string) { testRepeatDetection(t, start(t, d, dsn)) })
}

func testRepeatDetection(t *testing.T, h *harness) {
	clerk := token(t, auth.RoleClerk, "", "anji")
	id := idNumber("33052319750615123")
	var first, again, other, stranger, byPhone, byPhoneAgain intake.RegisterResponse
	h.do("POST", "/v1/petitions", clerk, petition(id, "王五", "拖欠工资", wages), &first)
	h.do("POST", "/v1/petitions", clerk, petition(id, "王五", "再次反映拖欠工资", "某服装公司至今仍拖欠我和工友三个月工资一万二千元，讨要无果"), &again)
	h.do("POST", "/v1/petitions", clerk, petition(id, "王五", "宅基地纠纷", "邻居侵占我家宅基地约二十平方米，村委会调解未果"), &other)
	h.do("POST", "/v1/petitions", clerk, petition(idNumber("33052319800101002"), "孙八", "拖欠工资", wages), &stranger)
	noID := petition("", "周九", "噪音扰民", "楼下饭店油烟噪音扰民长达一年")
	h.do("POST", "/v1/petitions", clerk, noID, &byPhone)
	h.do("POST", "/v1/petitions", clerk, noID, &byPhoneAgain)
	if again.RepeatOf == nil || *again.RepeatOf != first.CaseID {
		t.Errorf("same person, same matter: repeatOf = %v, want %s", again.RepeatOf, first.CaseID)
	}
	if other.RepeatOf != nil {
		t.Errorf("same person, different matter: repeatOf = %v", *other.RepeatOf)
	}
	if stranger.RepeatOf != nil {
		t.Errorf("another person, same matter: repeatOf = %v", *stranger.RepeatOf)
	}
	if byPhoneAgain.RepeatOf == nil || *byPhoneAgain.RepeatOf != byPhone.CaseID {
		t.Errorf("name+phone petitioner: repeatOf = %v, want %s", byPhoneAgain.RepeatOf, byPhone.CaseID)
	}
	msgs := h.topic(eventsv1.StreamPetitions, 6)
	for _, m := range msgs {
		env, _ := kafkatransport.DecodeEnvelope(m)
		if env.CaseId == again.CaseID && env.GetPetitionRegistered().RepeatOf != first.CaseID {
			t.Errorf("event repeat_of = %q", env.GetPetitionRegistered().RepeatOf)
		}
	}
	// A group petition: five or more persons.
	var group intake.RegisterResponse
	g := petition(idNumber("33052319900202003"), "吴十", "征地补偿", "村集体土地被征收补偿款未发放")
	g.Channel, g.PersonCount = "visit", 30
	if code := h.do("POST", "/v1/petitions", clerk, g, &group); code != 201 || !group.Group {
		t.Fatalf("group visit = %d %+v", code, group)
	}
}

// A new case id that is already taken is never stored over the case that
// has it: Register takes another one, and gives up with nothing stored.
func TestRegisterRetriesTakenCaseID(t *testing.T) {
	storetest.EachDSN(t, func(t *testing.T, d store.Dialect, dsn string) {
		h := start(t, d, dsn)
		clerk := token(t, auth.RoleClerk, "", "anji")
		taken := "330523-20261121-AAAA0000"
		intake.ForceCaseIDs(h.svc, taken, taken, "330523-20261121-AAAA0001", taken, taken, taken, taken, taken)
		var first, second intake.RegisterResponse
		if code := h.do("POST", "/v1/petitions", clerk, petition(idNumber("33052319750615123"), "王五", "拖欠工资", wages), &first); code != 201 || first.CaseID != taken {
			t.Fatalf("first = %d %+v", code, first)
		}
		if code := h.do("POST", "/v1/petitions", clerk, petition(idNumber("33052319800101002"), "孙八", "宅基地纠纷", "邻居侵占我家宅基地约二十平方米"), &second); code != 201 || second.CaseID != "330523-20261121-AAAA0001" {
			t.Fatalf("second = %d %+v, want the id after the taken one", code, second)
		}
		var e apierror.Error
		if code := h.do("POST", "/v1/petitions", clerk, petition(idNumber("33052319900202003"), "吴十", "征地补偿", "补偿款未发放"), &e); code != 500 {
			t.Fatalf("five clashes = %d %+v, want 500", code, e)
		}
		ctx := context.Background()
		var n int
		var title string
		if err := h.app.DB.QueryRow(ctx, `SELECT COUNT(*) FROM petitions`).Scan(&n); err != nil || n != 2 {
			t.Fatalf("petitions stored = %d (%v), want 2", n, err)
		}
		if err := h.app.DB.QueryRow(ctx, `SELECT title FROM petitions WHERE case_id = ?`, taken).Scan(&title); err != nil || title != "拖欠工资" {
			t.Fatalf("the taken id's case = %q (%v)", title, err)
		}
		if msgs := h.topic(eventsv1.StreamPetitions, 2); len(msgs) != 2 {
			t.Fatalf("%d petition events, want 2", len(msgs))
		}
	})
}
