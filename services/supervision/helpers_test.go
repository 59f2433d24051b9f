package supervision

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"xinfang.io/county"
	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/apierror"
	"xinfang.io/services/kit/auth"
	"xinfang.io/services/kit/clock"
	"xinfang.io/services/kit/inbox"
	"xinfang.io/services/kit/outbox"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/supervision/casemachine"
)

const samplePath = "../../operator/config/samples/county_anji.yaml"

var (
	anjiOnce sync.Once
	anjiCfg  *county.Config
	anjiErr  error
)

// anji is the Anji sample county (安吉县) with the real 2026 calendar.
func anji(t testing.TB) *county.Config {
	t.Helper()
	anjiOnce.Do(func() { anjiCfg, anjiErr = county.Load(samplePath) })
	if anjiErr != nil {
		t.Fatalf("load the Anji sample: %v", anjiErr)
	}
	return anjiCfg
}

// at is a China Standard Time instant: at("2026-03-02 09:00").
func at(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, county.Shanghai)
	if err != nil {
		panic(err)
	}
	return t
}

func date(s string) county.Date {
	d, err := county.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

func migrateAll(ctx context.Context, db *store.DB) error {
	for _, m := range []struct {
		name string
		ms   []store.Migration
	}{{"outbox", outbox.Migrations}, {"inbox", inbox.Migrations}, {"supervision", Migrations}} {
		if err := db.Migrate(ctx, m.name, m.ms); err != nil {
			return err
		}
	}
	return nil
}

// harness drives the service with a fake clock and reads what it wrote to
// the outbox.
type harness struct {
	t     *testing.T
	db    *store.DB
	svc   *Supervision
	clock *clock.Manual
	cfg   *county.Config
	seen  int64
}

func newHarness(t *testing.T, db *store.DB) *harness {
	t.Helper()
	if err := migrateAll(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, db: db, clock: clock.NewManual(at("2026-01-05 09:00")), cfg: anji(t)}
	h.svc = New(Config{DB: db, Outbox: outbox.New(db, "anji"), County: func() *county.Config { return h.cfg },
		Clock: h.clock, Consumer: "test-routing", TimerBatch: 7})
	return h
}

func claims(role auth.Role, dept string) *auth.Claims {
	return &auth.Claims{County: "anji", Role: role, Department: dept,
		RegisteredClaims: jwt.RegisteredClaims{Subject: string(role) + "-" + dept + "-1"}}
}

var (
	supervisor = claims(auth.RoleSupervisor, "xfj")
	leader     = claims(auth.RoleLeader, "")
)

func dept(id string) *auth.Claims { return claims(auth.RoleDepartment, id) }

func as(c *auth.Claims) context.Context { return auth.WithClaims(context.Background(), c) }

type assignOpt func(*eventsv1.Envelope, *eventsv1.CaseAssigned)

func attempt(n uint32) assignOpt {
	return func(_ *eventsv1.Envelope, a *eventsv1.CaseAssigned) { a.Attempt = n }
}
func category(c eventsv1.Category) assignOpt {
	return func(_ *eventsv1.Envelope, a *eventsv1.CaseAssigned) { a.Category = c }
}
func coDepartments(ds ...string) assignOpt {
	return func(_ *eventsv1.Envelope, a *eventsv1.CaseAssigned) { a.CoDepartments = ds }
}
func excluded(ds ...string) assignOpt {
	return func(_ *eventsv1.Envelope, a *eventsv1.CaseAssigned) { a.ExcludedDepartments = ds }
}
func imported() assignOpt {
	return func(e *eventsv1.Envelope, _ *eventsv1.CaseAssigned) { e.Imported = true }
}
func occurred(t time.Time) assignOpt {
	return func(e *eventsv1.Envelope, _ *eventsv1.CaseAssigned) { e.OccurredAt = timestamppb.New(t) }
}

func routingEnvelope(caseID string, occurredAt time.Time, payload proto.Message) *eventsv1.Envelope {
	env := &eventsv1.Envelope{EventId: outbox.NewEventID(), County: "anji", CaseId: caseID,
		OccurredAt: timestamppb.New(occurredAt), RecordedAt: timestamppb.New(occurredAt), SchemaVersion: 1,
		Actor: &eventsv1.Actor{Kind: eventsv1.ActorKind_ACTOR_KIND_SYSTEM, Id: "routing"}, Reason: "rule"}
	if err := env.SetPayload(payload); err != nil {
		panic(err)
	}
	return env
}

func assigned(caseID, lead string, now time.Time, opts ...assignOpt) *eventsv1.Envelope {
	a := &eventsv1.CaseAssigned{Mode: eventsv1.AssignMode_ASSIGN_MODE_ASSIGN, Category: eventsv1.Category_CATEGORY_COMPLAINT,
		LeadDepartment: lead, RuleId: "wages", RulesVersion: "v1", Attempt: 1}
	env := routingEnvelope(caseID, now, a)
	for _, o := range opts {
		o(env, a)
	}
	return env
}

// assign delivers a case.assigned at the clock's time.
func (h *harness) assign(caseID, lead string, opts ...assignOpt) *eventsv1.Envelope {
	h.t.Helper()
	env := assigned(caseID, lead, h.clock.Now(), opts...)
	if err := h.svc.ApplyRouting(context.Background(), env); err != nil {
		h.t.Fatalf("apply case.assigned: %v", err)
	}
	return env
}

// set moves the clock without firing timers.
func (h *harness) set(s string) { h.clock.Set(at(s)) }

// advance moves the clock and fires what is due.
func (h *harness) advance(s string) int {
	h.t.Helper()
	h.clock.Set(at(s))
	n, err := h.svc.FireDue(context.Background())
	if err != nil {
		h.t.Fatalf("fire due timers at %s: %v", s, err)
	}
	return n
}

func (h *harness) try(c *auth.Claims, caseID string, cmd casemachine.Command) (*ActResult, error) {
	return h.svc.Act(as(c), caseID, cmd)
}

func (h *harness) act(c *auth.Claims, caseID string, cmd casemachine.Command) *ActResult {
	h.t.Helper()
	r, err := h.try(c, caseID, cmd)
	if err != nil {
		h.t.Fatalf("%s %s: %v", cmd.Action, caseID, err)
	}
	return r
}

func (h *harness) get(caseID string) *CaseView {
	h.t.Helper()
	v, err := h.svc.Get(as(supervisor), caseID)
	if err != nil {
		h.t.Fatalf("get %s: %v", caseID, err)
	}
	return v
}

// outboxEnvelopes reads the outbox rows after id after.
func outboxEnvelopes(t testing.TB, db *store.DB, after int64) ([]*eventsv1.Envelope, int64) {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT id, payload FROM outbox WHERE id > ? ORDER BY id`, after)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []*eventsv1.Envelope
	last := after
	for rows.Next() {
		var (
			id      int64
			payload []byte
		)
		if err := rows.Scan(&id, &payload); err != nil {
			t.Fatal(err)
		}
		var env eventsv1.Envelope
		if err := proto.Unmarshal(payload, &env); err != nil {
			t.Fatal(err)
		}
		out = append(out, &env)
		last = id
	}
	return out, last
}

// events returns the events published since the last call, described.
func (h *harness) events() []string {
	h.t.Helper()
	envs, last := outboxEnvelopes(h.t, h.db, h.seen)
	h.seen = last
	out := make([]string, len(envs))
	for i, e := range envs {
		out[i] = describe(e)
	}
	return out
}

// expect checks the events published since the last call, in order.
func (h *harness) expect(want ...string) {
	h.t.Helper()
	got := h.events()
	if !slices.Equal(got, want) {
		h.t.Fatalf("events:\n  got  %s\n  want %s", strings.Join(got, "\n       "), strings.Join(want, "\n       "))
	}
}

func short[T fmt.Stringer](v T, prefix string) string {
	return strings.TrimPrefix(v.String(), prefix)
}

// describe renders an event compactly: its civil date, type and the
// fields that matter.
func describe(e *eventsv1.Envelope) string {
	var s string
	switch p := e.GetPayload().(type) {
	case *eventsv1.Envelope_CaseAcknowledged:
		s = fmt.Sprintf("acknowledged %s notified=%s", p.CaseAcknowledged.Department, p.CaseAcknowledged.NotifiedOn)
	case *eventsv1.Envelope_CaseObjected:
		s = fmt.Sprintf("objected %s within=%t", p.CaseObjected.Department, p.CaseObjected.WithinWindow)
	case *eventsv1.Envelope_CaseAccepted:
		x := p.CaseAccepted
		s = fmt.Sprintf("accepted %s %s due=%s", x.Department, short(x.Category, "CATEGORY_"), x.HandlingDue)
	case *eventsv1.Envelope_CaseExtended:
		x := p.CaseExtended
		s = fmt.Sprintf("extended %s days=%d due=%s notified=%t", x.Department, x.Days, x.NewDue, x.PetitionerNotified)
	case *eventsv1.Envelope_CaseReplied:
		x := p.CaseReplied
		s = fmt.Sprintf("replied %s %s on=%s", x.Department, short(x.Outcome, "REPLY_OUTCOME_"), x.RepliedOn)
	case *eventsv1.Envelope_CaseServed:
		x := p.CaseServed
		s = fmt.Sprintf("served %s on=%s reviewDue=%s", short(x.Method, "SERVICE_METHOD_"), x.ServedOn, x.ReviewRequestDue)
	case *eventsv1.Envelope_CaseEvaluated:
		x := p.CaseEvaluated
		s = fmt.Sprintf("evaluated %s=%s %s", short(x.Target, "EVALUATION_TARGET_"), short(x.Rating, "RATING_"), x.Department)
	case *eventsv1.Envelope_CaseReviewRequested:
		x := p.CaseReviewRequested
		s = fmt.Sprintf("review_requested %s within=%t due=%s", x.ReviewingBody, x.WithinWindow, x.DecisionDue)
	case *eventsv1.Envelope_CaseReviewDecided:
		x := p.CaseReviewDecided
		s = fmt.Sprintf("review_decided %s %s reReviewDue=%s", x.ReviewingBody, short(x.Outcome, "REVIEW_OUTCOME_"), x.ReReviewRequestDue)
	case *eventsv1.Envelope_CaseReReviewRequested:
		x := p.CaseReReviewRequested
		s = fmt.Sprintf("re_review_requested %s within=%t due=%s", x.ReviewingBody, x.WithinWindow, x.DecisionDue)
	case *eventsv1.Envelope_CaseReReviewDecided:
		x := p.CaseReReviewDecided
		s = fmt.Sprintf("re_review_decided %s %s hearingDays=%d", x.ReviewingBody, short(x.Outcome, "REVIEW_OUTCOME_"), x.HearingDays)
	case *eventsv1.Envelope_CaseReturned:
		s = fmt.Sprintf("returned %s due=%s", p.CaseReturned.Department, p.CaseReturned.NewDue)
	case *eventsv1.Envelope_CaseMediated:
		x := p.CaseMediated
		s = fmt.Sprintf("mediated %s agreement=%t", short(x.Kind, "MEDIATION_KIND_"), x.AgreementReached)
	case *eventsv1.Envelope_CaseSupervisionAction:
		x := p.CaseSupervisionAction
		s = fmt.Sprintf("supervision %s %s %s due=%s step=%d leader=%t", short(x.Kind, "SUPERVISION_ACTION_KIND_"),
			short(x.Clock, "CLOCK_"), x.Department, x.Due, x.Step, x.NotifyLeader)
		if x.AnswerDue != "" {
			s += " answerDue=" + x.AnswerDue
		}
	case *eventsv1.Envelope_CaseSupervisionAnswered:
		s = fmt.Sprintf("supervision_answered %s", p.CaseSupervisionAnswered.Department)
	case *eventsv1.Envelope_CaseFlagged:
		x := p.CaseFlagged
		s = fmt.Sprintf("flagged %s set=%t owner=%s", short(x.Flag, "CASE_FLAG_"), x.Set, x.Owner)
	case *eventsv1.Envelope_CaseHearingHeld:
		x := p.CaseHearingHeld
		s = fmt.Sprintf("hearing_held %s %s..%s days=%d decisionDue=%s", x.ReviewingBody, x.From, x.To, x.Days, x.DecisionDue)
	case *eventsv1.Envelope_CaseDeclined:
		x := p.CaseDeclined
		s = fmt.Sprintf("declined %s %s art=%s notified=%s", x.Department, short(x.Reason, "NOT_ACCEPTED_REASON_"), x.Article, x.NotifiedOn)
		if x.LegalChannel != eventsv1.LegalChannel_LEGAL_CHANNEL_UNSPECIFIED {
			s += " channel=" + short(x.LegalChannel, "LEGAL_CHANNEL_")
		}
	case *eventsv1.Envelope_CaseDeadlineChanged:
		x := p.CaseDeadlineChanged
		s = fmt.Sprintf("deadline_changed %s %s %s→%s", short(x.Clock, "CLOCK_"), x.Department, x.PreviousDue, x.NewDue)
	case *eventsv1.Envelope_CaseClosed:
		s = fmt.Sprintf("closed %s", short(p.CaseClosed.Reason, "CLOSE_REASON_"))
	case *eventsv1.Envelope_CaseFinal:
		s = fmt.Sprintf("final %s", p.CaseFinal.Article)
	default:
		s = e.TypeName()
	}
	return county.DateOf(e.GetOccurredAt().AsTime()).String() + " " + s
}

func wantKind(t *testing.T, err error, kind apierror.Kind) *apierror.Error {
	t.Helper()
	var ae *apierror.Error
	if !errors.As(err, &ae) {
		if kind == apierror.Forbidden && errors.Is(err, auth.ErrForbidden) {
			return nil
		}
		t.Fatalf("error %v is not an *apierror.Error of kind %s", err, kind)
	}
	if ae.Kind != kind {
		t.Fatalf("error kind %s (%v), want %s", ae.Kind, ae, kind)
	}
	return ae
}

// deadline returns the view of the latest clock of kind k.
func deadline(v *CaseView, k casemachine.ClockKind) Deadline {
	for i := len(v.Deadlines) - 1; i >= 0; i-- {
		if v.Deadlines[i].Clock == k {
			return v.Deadlines[i]
		}
	}
	return Deadline{}
}
