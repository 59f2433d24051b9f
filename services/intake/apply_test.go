package intake_test

import (
	"context"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/intake"
	"xinfang.io/services/kit/auth"
	"xinfang.io/services/kit/kafkatransport"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
)

// Each kind of step — a new status with departments, a new status, a
// timeline entry alone — changes the registered case and is refused, for
// good, for a case intake never registered.
func TestEventsChangeTheRegisteredCaseOnly(t *testing.T) {
	storetest.EachDSN(t, testEventsChangeTheRegisteredCaseOnly)
}

func testEventsChangeTheRegisteredCaseOnly(t *testing.T, d store.Dialect, dsn string) {
	h := start(t, d, dsn)
	staff := token(t, auth.RoleSupervisor, "", "anji")
	var reg intake.RegisterResponse
	if code := h.do("POST", "/v1/petitions", token(t, auth.RoleClerk, "", "anji"),
		petition(idNumber("33052319750615123"), "王五", "拖欠工资", wages), &reg); code != 201 {
		t.Fatalf("register = %d", code)
	}
	ctx := context.Background()
	event := func(id, caseID string, payload proto.Message) *eventsv1.Envelope {
		env := &eventsv1.Envelope{EventId: id, County: "anji", CaseId: caseID, OccurredAt: timestamppb.New(h.clock.Now())}
		if err := env.SetPayload(payload); err != nil {
			t.Fatal(err)
		}
		return env
	}
	steps := []struct {
		payload    proto.Message
		status     string
		depts      []string
		timeline   int
		timelineOf string
	}{
		{&eventsv1.CaseAssigned{Mode: eventsv1.AssignMode_ASSIGN_MODE_ASSIGN, LeadDepartment: "rsj", CoDepartments: []string{"zjj"},
			AcknowledgeDue: "2026-12-01"}, "assigned", []string{"rsj", "zjj"}, 2, "status and departments"},
		{&eventsv1.CaseAcknowledged{Department: "rsj"}, "assigned", []string{"rsj", "zjj"}, 3, "a timeline entry alone"},
		{&eventsv1.CaseAccepted{Department: "rsj", HandlingDue: "2027-01-19"}, "accepted", []string{"rsj", "zjj"}, 4, "a status"},
	}
	for i, st := range steps {
		ghost := event("ev-ghost-"+string(rune('a'+i)), "ANJI-NOT-REGISTERED", st.payload)
		if err := h.svc.Apply(ctx, ghost); err == nil || !kafkatransport.IsPermanent(err) {
			t.Fatalf("%s for an unregistered case: err = %v, want a permanent refusal", st.timelineOf, err)
		}
		if err := h.svc.Apply(ctx, event("ev-"+string(rune('a'+i)), reg.CaseID, st.payload)); err != nil {
			t.Fatalf("%s: %v", st.timelineOf, err)
		}
		var view intake.PetitionView
		if code := h.do("GET", "/v1/petitions/"+reg.CaseID, staff, nil, &view); code != 200 {
			t.Fatalf("view = %d", code)
		}
		if view.Status != st.status || !slices.Equal(view.Departments, st.depts) {
			t.Fatalf("after %s: status %q departments %v, want %q %v", st.timelineOf, view.Status, view.Departments, st.status, st.depts)
		}
		var q intake.QueryResponse
		if code := h.do("GET", "/v1/query/"+reg.QueryCode, "", nil, &q); code != 200 || len(q.Timeline) != st.timeline {
			t.Fatalf("after %s: query %d, timeline %+v, want %d entries", st.timelineOf, code, q.Timeline, st.timeline)
		}
	}
}
