package intake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"testing"

	"xinfang.io/services/intake"
	"xinfang.io/services/kit/auth"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
)

// history builds an NDJSON file of n good cases with bad lines at the given
// line numbers (1-based), returning the file and the bad lines' reasons.
func history(n int, bad map[int]string) []byte {
	var buf bytes.Buffer
	line, good := 0, 0
	for good < n {
		line++
		if kind, ok := bad[line]; ok {
			buf.WriteString(badLine(kind, line))
			buf.WriteByte('\n')
			continue
		}
		good++
		rec := intake.ImportRecord{
			SourceID: fmt.Sprintf("AJ-2025-%05d", good),
			Petition: intake.RegisterRequest{
				Channel:     []string{"letter", "visit", "web", "phone"}[good%4],
				Petitioners: []intake.Petitioner{{Name: "历史来信人", IDNumber: idNumber(fmt.Sprintf("330523197%d%02d01%03d", good%10, good%12+1, good%1000)), Address: "安吉县"}},
				Township:    "dipu",
				Title:       fmt.Sprintf("历史事项%d", good),
				Content:     intake.Content{Request: "请求处理", Facts: fmt.Sprintf("第%d件历史事项的事实", good), Reasons: "理由"},
				ReceivedAt:  "2025-03-03",
			},
			Events: []intake.ImportEvent{
				{Type: "case.assigned", At: "2025-03-05", Payload: json.RawMessage(`{"mode":"ASSIGN_MODE_ASSIGN","leadDepartment":"rsj","acknowledgeDue":"2025-03-20"}`)},
				{Type: "case.accepted", At: "2025-03-10", Payload: json.RawMessage(`{"department":"rsj","handlingDue":"2025-05-09"}`)},
			},
		}
		if good%3 == 0 {
			rec.Events = append(rec.Events, intake.ImportEvent{Type: "case.replied", At: "2025-04-20",
				Payload: json.RawMessage(`{"department":"rsj","outcome":"REPLY_OUTCOME_SUPPORTED","repliedOn":"2025-04-20"}`)})
		}
		b, _ := json.Marshal(rec)
		buf.Write(b)
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

func badLine(kind string, line int) string {
	base := fmt.Sprintf(`{"sourceId":"BAD-%d","petition":{"channel":"letter","petitioners":[{"name":"某","phone":"13800000000","address":"安吉县"}],"title":"t","content":{"request":"r","facts":"f","reasons":"x"},"receivedAt":"2025-03-03"},"events":%%s}`, line)
	switch kind {
	case "json":
		return `{"sourceId": "broken`
	case "id":
		return fmt.Sprintf(`{"sourceId":"BAD-%d","petition":{"channel":"letter","petitioners":[{"name":"某","idNumber":"330523197501011234","address":"安吉县"}],"title":"t","content":{"request":"r","facts":"f","reasons":"x"},"receivedAt":"2025-03-03"}}`, line)
	case "type":
		return fmt.Sprintf(base, `[{"type":"case.assigned","at":"2025-03-05","payload":{"leadDepartment":"rsj"}},{"type":"case.teleported","at":"2025-03-06"}]`)
	case "order":
		// A valid petition whose third event goes back in time: none of it is imported.
		return fmt.Sprintf(base, `[{"type":"case.assigned","at":"2025-03-05","payload":{"leadDepartment":"rsj"}},{"type":"case.accepted","at":"2025-03-09"},{"type":"case.replied","at":"2025-03-07"}]`)
	case "department":
		return fmt.Sprintf(base, `[{"type":"case.assigned","at":"2025-03-05","payload":{"leadDepartment":"nosuch"}}]`)
	}
	panic(kind)
}

func TestImportIsIdempotentAndReportsBadLines(t *testing.T) {
	storetest.EachDSN(t, func(t *testing.T, d store.Dialect, dsn string) {
		// The 10,000-case file on the embedded store; PostgreSQL takes the
		// same path with a fifth of it, to keep the suite's time in check.
		n, bad := 10000, map[int]string{5: "json", 100: "id", 2000: "type", 5000: "order", 10003: "department"}
		if d == store.Postgres {
			n, bad = 2000, map[int]string{5: "json", 100: "id", 1000: "type", 1500: "order", 2003: "department"}
		}
		file := history(n, maps.Clone(bad))
		h := start(t, d, dsn)
		admin := token(t, auth.RoleAdmin, "", "anji")
		var rep intake.ImportReport
		if code := h.do("POST", "/v1/import", admin, file, &rep); code != 200 {
			t.Fatalf("import = %d", code)
		}
		if rep.Lines != n+len(bad) || rep.Imported != n || rep.Skipped != 0 || rep.Failed != len(bad) {
			t.Fatalf("report: lines %d imported %d skipped %d failed %d", rep.Lines, rep.Imported, rep.Skipped, rep.Failed)
		}
		for _, e := range rep.Errors {
			if _, ok := bad[e.Line]; !ok {
				t.Errorf("unexpected error at line %d: %+v", e.Line, e)
			}
			delete(bad, e.Line)
		}
		if len(bad) != 0 {
			t.Errorf("bad lines not reported: %v", bad)
		}
		ctx := context.Background()
		count := func(q string) int {
			var c int
			if err := h.app.DB.QueryRow(ctx, q).Scan(&c); err != nil {
				t.Fatal(err)
			}
			return c
		}
		petitions := count(`SELECT COUNT(*) FROM petitions WHERE imported = 1`)
		events := count(`SELECT COUNT(*) FROM outbox`)
		wantEvents := n*3 + n/3 // registered + assigned + accepted, + replied for every third
		if petitions != n || events != wantEvents {
			t.Fatalf("stored %d petitions and %d events, want %d and %d", petitions, events, n, wantEvents)
		}
		if c := count(`SELECT COUNT(*) FROM petitions WHERE source_id LIKE 'BAD-%'`); c != 0 {
			t.Fatalf("%d cases of bad lines were half-imported", c)
		}

		// The same file again imports nothing twice.
		var again intake.ImportReport
		if code := h.do("POST", "/v1/import", admin, file, &again); code != 200 {
			t.Fatalf("re-import = %d", code)
		}
		if again.Imported != 0 || again.Skipped != n || again.Failed != 5 {
			t.Fatalf("re-import: %+v", again)
		}
		if count(`SELECT COUNT(*) FROM outbox`) != wantEvents || count(`SELECT COUNT(*) FROM petitions`) != n {
			t.Fatal("re-import wrote again")
		}
		// Only admins and supervisors import.
		if code := h.do("POST", "/v1/import", token(t, auth.RoleClerk, "", "anji"), file[:200], nil); code != 403 {
			t.Fatalf("clerk import = %d", code)
		}
	})
}
