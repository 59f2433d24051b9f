package statistics_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"xinfang.io/county"
	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/clock"
	"xinfang.io/services/kit/inbox"
	"xinfang.io/services/kit/outbox"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/statistics"
)

const samplePath = "../../operator/config/samples/county_anji.yaml"

func loadCounty(t testing.TB) *county.Config {
	t.Helper()
	cfg, err := county.Load(samplePath)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// at is 10:00 in Shanghai on day (YYYY-MM-DD).
func at(day string) time.Time {
	d, err := county.ParseDate(day)
	if err != nil {
		panic(err)
	}
	return d.Start().Add(10 * time.Hour)
}

// newService returns the statistics service on db with its schema, its
// clock at 10:00 on today.
func newService(t testing.TB, db *store.DB, today string) (statistics.Service, *clock.Manual) {
	t.Helper()
	return newServiceFor(t, db, today, loadCounty(t))
}

// newServiceFor is newService for a county configuration.
func newServiceFor(t testing.TB, db *store.DB, today string, cfg *county.Config) (statistics.Service, *clock.Manual) {
	t.Helper()
	ctx := context.Background()
	for name, m := range map[string][]store.Migration{"outbox": outbox.Migrations, "inbox": inbox.Migrations, "statistics": statistics.Migrations} {
		if err := db.Migrate(ctx, name, m); err != nil {
			t.Fatal(err)
		}
	}
	clk := clock.NewManual(at(today))
	svc := statistics.New(db, statistics.Options{Outbox: outbox.New(db, cfg.ID), County: func() *county.Config { return cfg },
		Now: clk.Now, Log: slog.New(slog.DiscardHandler), LegacyInbox: legacyConsumer})
	return svc, clk
}

// legacyConsumer is the consumer name earlier versions recorded applied
// events under in the kit's inbox table.
const legacyConsumer = "xinfang.anji.statistics.figures"

// appliedEvents counts the events the case rows record as applied.
func appliedEvents(t testing.TB, db *store.DB) int {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT state FROM stat_cases`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			t.Fatal(err)
		}
		var st struct {
			Seen string `json:"seen"`
		}
		if err := json.Unmarshal([]byte(raw), &st); err != nil {
			t.Fatal(err)
		}
		if st.Seen != "" {
			n += strings.Count(st.Seen, "|") - 1
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

func applyAll(t testing.TB, svc statistics.Service, envs []*eventsv1.Envelope) {
	t.Helper()
	for _, env := range envs {
		if err := svc.Apply(context.Background(), env); err != nil {
			t.Fatalf("apply %s %s: %v", env.GetType(), env.GetCaseId(), err)
		}
	}
}

// history builds envelopes as intake, routing and supervision publish them.
type history struct {
	envs     []*eventsv1.Envelope
	n        int
	prefix   string
	imported bool
}

func (h *history) add(caseID, day string, p proto.Message) *eventsv1.Envelope {
	h.n++
	env := &eventsv1.Envelope{
		EventId: fmt.Sprintf("%sev-%05d", h.prefix, h.n), County: "anji", CaseId: caseID,
		OccurredAt: timestamppb.New(at(day)), RecordedAt: timestamppb.New(at(day)), SchemaVersion: 1, Imported: h.imported,
	}
	if err := env.SetPayload(p); err != nil {
		panic(err)
	}
	h.envs = append(h.envs, env)
	return env
}

var channels = map[string]eventsv1.Channel{
	"web": eventsv1.Channel_CHANNEL_WEB, "letter": eventsv1.Channel_CHANNEL_LETTER, "visit": eventsv1.Channel_CHANNEL_VISIT,
	"phone": eventsv1.Channel_CHANNEL_PHONE, "fax": eventsv1.Channel_CHANNEL_FAX,
}

var categories = map[string]eventsv1.Category{
	"complaint": eventsv1.Category_CATEGORY_COMPLAINT, "suggestion": eventsv1.Category_CATEGORY_SUGGESTION,
	"accusation": eventsv1.Category_CATEGORY_ACCUSATION,
}

// petition describes a registration.
type petition struct {
	channel, category, township, respondent, repeatOf string
	persons                                           int
	keys                                              []string
}

func (h *history) reg(id, day string, p petition) {
	d, _ := county.ParseDate(day)
	h.add(id, day, &eventsv1.PetitionRegistered{
		Channel: channels[p.channel], CategoryHint: categories[p.category], Township: p.township, Respondent: p.respondent,
		PersonCount: uint32(p.persons), Group: p.persons >= 5, RepeatOf: p.repeatOf, ReceivedAt: timestamppb.New(at(day)),
		RoutingDue: d.AddDays(10).String(), PetitionerKeys: p.keys, Title: "t",
	})
}

func (h *history) assign(id, day, mode, lead, ackDue string) {
	m := eventsv1.AssignMode_ASSIGN_MODE_TRANSFER
	if mode == "assign" {
		m = eventsv1.AssignMode_ASSIGN_MODE_ASSIGN
	}
	h.add(id, day, &eventsv1.CaseAssigned{Mode: m, Category: eventsv1.Category_CATEGORY_COMPLAINT, LeadDepartment: lead, AcknowledgeDue: ackDue, Attempt: 1})
}

func (h *history) assignCat(id, day, cat, lead, ackDue string) {
	h.add(id, day, &eventsv1.CaseAssigned{Mode: eventsv1.AssignMode_ASSIGN_MODE_TRANSFER, Category: categories[cat], LeadDepartment: lead, AcknowledgeDue: ackDue, Attempt: 1})
}

func (h *history) ack(id, day, dept string) {
	h.add(id, day, &eventsv1.CaseAcknowledged{Department: dept, NotifiedOn: day})
}

func (h *history) accept(id, day, dept, due string) {
	h.add(id, day, &eventsv1.CaseAccepted{Department: dept, Category: eventsv1.Category_CATEGORY_COMPLAINT, Clock: eventsv1.Clock_CLOCK_HANDLING, HandlingDue: due})
}

func (h *history) extend(id, day, newDue string) {
	h.add(id, day, &eventsv1.CaseExtended{Days: 30, NewDue: newDue, PetitionerNotified: true})
}

func (h *history) reply(id, day string) {
	h.add(id, day, &eventsv1.CaseReplied{Outcome: eventsv1.ReplyOutcome_REPLY_OUTCOME_SUPPORTED, Opinion: "o", RepliedOn: day})
}

func (h *history) serve(id, day string) {
	h.add(id, day, &eventsv1.CaseServed{Method: eventsv1.ServiceMethod_SERVICE_METHOD_IN_PERSON, ServedOn: day})
}

var ratings = map[string]eventsv1.Rating{
	"satisfied": eventsv1.Rating_RATING_SATISFIED, "basically": eventsv1.Rating_RATING_BASICALLY,
	"dissatisfied": eventsv1.Rating_RATING_DISSATISFIED, "lapsed": eventsv1.Rating_RATING_LAPSED,
}

func (h *history) evalBureau(id, day, rating string) {
	h.add(id, day, &eventsv1.CaseEvaluated{Target: eventsv1.EvaluationTarget_EVALUATION_TARGET_BUREAU, Rating: ratings[rating], Department: "xfj"})
}

func (h *history) evalUnit(id, day, rating, dept string) {
	h.add(id, day, &eventsv1.CaseEvaluated{Target: eventsv1.EvaluationTarget_EVALUATION_TARGET_HANDLING_UNIT, Rating: ratings[rating], Department: dept})
}

var outcomes = map[string]eventsv1.ReviewOutcome{
	"upheld": eventsv1.ReviewOutcome_REVIEW_OUTCOME_UPHELD, "revoked": eventsv1.ReviewOutcome_REVIEW_OUTCOME_REVOKED,
	"changed": eventsv1.ReviewOutcome_REVIEW_OUTCOME_CHANGED,
}

func (h *history) reviewReq(id, day, due string) {
	h.add(id, day, &eventsv1.CaseReviewRequested{ReviewingBody: "县政府", WithinWindow: true, DecisionDue: due})
}

func (h *history) reviewDec(id, day, outcome string) {
	h.add(id, day, &eventsv1.CaseReviewDecided{ReviewingBody: "县政府", Outcome: outcomes[outcome], Opinion: "o"})
}

func (h *history) reReviewReq(id, day, due string) {
	h.add(id, day, &eventsv1.CaseReReviewRequested{ReviewingBody: "市政府", WithinWindow: true, DecisionDue: due})
}

func (h *history) reReviewDec(id, day, outcome string) {
	h.add(id, day, &eventsv1.CaseReReviewDecided{ReviewingBody: "市政府", Outcome: outcomes[outcome], Opinion: "o"})
}

func (h *history) mediate(id, day string, agreed bool) {
	h.add(id, day, &eventsv1.CaseMediated{Kind: eventsv1.MediationKind_MEDIATION_KIND_MEDIATION, AgreementReached: agreed, Summary: "s"})
}

func (h *history) leader(id, day string, set bool) {
	h.add(id, day, &eventsv1.CaseFlagged{Flag: eventsv1.CaseFlag_CASE_FLAG_LEADER_OWNED, Set: set, Owner: "副县长"})
}

var closeReasons = map[string]eventsv1.CloseReason{
	"window_lapsed": eventsv1.CloseReason_CLOSE_REASON_WINDOW_LAPSED, "withdrawn": eventsv1.CloseReason_CLOSE_REASON_WITHDRAWN,
	"mediated": eventsv1.CloseReason_CLOSE_REASON_MEDIATED, "routed_out": eventsv1.CloseReason_CLOSE_REASON_ROUTED_OUT,
}

func (h *history) closed(id, day, reason string) {
	h.add(id, day, &eventsv1.CaseClosed{Reason: closeReasons[reason]})
}

func (h *history) final(id, day string) { h.add(id, day, &eventsv1.CaseFinal{Article: "36(3)"}) }

func (h *history) diverted(id, day string, ch eventsv1.LegalChannel) {
	h.add(id, day, &eventsv1.CaseDiverted{Category: eventsv1.Category_CATEGORY_COMPLAINT, LegalChannel: ch, Body: "法院"})
}

func (h *history) forwarded(id, day string) {
	h.add(id, day, &eventsv1.CaseForwarded{Category: eventsv1.Category_CATEGORY_SUGGESTION, Destination: "湖州市信访局"})
}

func (h *history) notAccepted(id, day, linked string) {
	h.add(id, day, &eventsv1.CaseNotAccepted{Reason: eventsv1.NotAcceptedReason_NOT_ACCEPTED_REASON_WITHIN_TIME_LIMIT, LinkedCaseId: linked})
}

func (h *history) objected(id, day, dept string) {
	h.add(id, day, &eventsv1.CaseObjected{Department: dept, WithinWindow: true})
}

func (h *history) action(id, day string, kind eventsv1.SupervisionActionKind, clk eventsv1.Clock, dept string) {
	h.add(id, day, &eventsv1.CaseSupervisionAction{Kind: kind, Clock: clk, Department: dept, Due: day})
}

// byStream splits envelopes into their streams, keeping each stream's order.
func byStream(envs []*eventsv1.Envelope) map[eventsv1.Stream][]*eventsv1.Envelope {
	out := map[eventsv1.Stream][]*eventsv1.Envelope{}
	for _, e := range envs {
		s := eventsv1.StreamOf(e.GetType())
		out[s] = append(out[s], e)
	}
	return out
}
