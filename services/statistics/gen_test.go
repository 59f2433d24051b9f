package statistics_test

import (
	"fmt"
	"math/rand/v2"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"xinfang.io/county"
	eventsv1 "xinfang.io/proto/events/v1"
)

// genHistory generates a county's history for the benchmarks: cases
// registered day after day over years, each with a lifecycle drawn from
// every event kind statistics consumes (routing outcomes, objections and
// re-routing, acknowledgements on time and late, extensions, replies on
// time, late and never, service, both ratings, reviews and re-reviews,
// mediation, 领导包案, reminders, overdue marks and 督办, closing), over
// many townships, departments and respondents. Cases still running at the
// history's end stop where they are (积案 among them).
//
// Events come out as intake's import emits them and a consumer of the
// three streams sees them: a run of cases at a time, their petitions,
// routing and cases events each in order (as three partition fetches).
// Everything is a deterministic function of the seed.
type genHistory struct {
	cases       int
	start, end  county.Date
	townships   []string
	departments []string
	rng         *rand.Rand
	next        int // next case index
	events      int
	// base is added to the case indexes in ids, so that a second history
	// (live events after an ingested one) names cases of its own.
	base int
}

func newGenHistory(cases int, start, end county.Date, townships, departments int) *genHistory {
	g := &genHistory{cases: cases, start: start, end: end, rng: rand.New(rand.NewPCG(2026, uint64(cases)))}
	for i := range townships {
		g.townships = append(g.townships, fmt.Sprintf("town-%02d", i))
	}
	for i := range departments {
		g.departments = append(g.departments, fmt.Sprintf("dept-%02d", i))
	}
	return g
}

func (g *genHistory) caseID(i int) string { return fmt.Sprintf("330523-IMP-%012X", g.base+i) }

// nextRun returns the events of about n events' worth of cases, in stream
// runs; nil when the history is exhausted.
func (g *genHistory) nextRun(n int) []*eventsv1.Envelope {
	var streams [3][]*eventsv1.Envelope
	total := 0
	for total < n && g.next < g.cases {
		for _, e := range g.lifecycle(g.next) {
			s := 2
			switch eventsv1.StreamOf(e.TypeName()) {
			case eventsv1.StreamPetitions:
				s = 0
			case eventsv1.StreamRouting:
				s = 1
			}
			streams[s] = append(streams[s], e)
			total++
		}
		g.next++
	}
	if total == 0 {
		return nil
	}
	g.events += total
	return append(append(streams[0], streams[1]...), streams[2]...)
}

// lifecycle is case i's events, dated, up to the history's end.
func (g *genHistory) lifecycle(i int) []*eventsv1.Envelope {
	r := g.rng
	span := g.end.Sub(g.start) + 1
	day := g.start.AddDays(int(int64(i) * int64(span) / int64(g.cases)))
	id := g.caseID(i)
	ix := g.base + i
	var out []*eventsv1.Envelope
	n := 0
	add := func(d county.Date, p proto.Message) bool {
		if g.end.Before(d) {
			return false
		}
		n++
		at := d.Start().Add(9 * time.Hour)
		env := &eventsv1.Envelope{
			EventId: fmt.Sprintf("%08x-%04x-7%03x-8%03x-%012x", ix, n, n&0xfff, ix&0xfff, int64(ix)<<8|int64(n)),
			County:  "anji", CaseId: id, OccurredAt: timestamppb.New(at), RecordedAt: timestamppb.New(at),
			SchemaVersion: 1, Imported: true,
		}
		if err := env.SetPayload(p); err != nil {
			panic(err)
		}
		out = append(out, env)
		return true
	}
	pick := func(weights ...int) int {
		t := 0
		for _, w := range weights {
			t += w
		}
		x := r.IntN(t)
		for k, w := range weights {
			if x < w {
				return k
			}
			x -= w
		}
		return len(weights) - 1
	}
	// Registration.
	channel := []eventsv1.Channel{eventsv1.Channel_CHANNEL_WEB, eventsv1.Channel_CHANNEL_LETTER, eventsv1.Channel_CHANNEL_VISIT,
		eventsv1.Channel_CHANNEL_PHONE, eventsv1.Channel_CHANNEL_FAX}[pick(45, 25, 18, 11, 1)]
	category := []eventsv1.Category{eventsv1.Category_CATEGORY_COMPLAINT, eventsv1.Category_CATEGORY_SUGGESTION,
		eventsv1.Category_CATEGORY_ACCUSATION}[pick(75, 15, 10)]
	persons := 1 + pick(70, 20, 8)
	group := r.IntN(100) < 2
	if group {
		persons = 5 + r.IntN(30)
	}
	repeatOf := ""
	if i > 100 && r.IntN(100) < 8 {
		repeatOf = g.caseID(i - 1 - r.IntN(100))
	}
	dept := g.departments[min(r.IntN(len(g.departments)), r.IntN(len(g.departments)))] // some departments get more
	respondent := ""
	if r.IntN(2) == 0 {
		respondent = g.departments[r.IntN(len(g.departments))]
	}
	add(day, &eventsv1.PetitionRegistered{
		Channel: channel, CategoryHint: category, Township: g.townships[r.IntN(len(g.townships))], Respondent: respondent,
		PersonCount: uint32(persons), Group: group, RepeatOf: repeatOf, ReceivedAt: timestamppb.New(day.Start().Add(9 * time.Hour)),
		RoutingDue: day.AddDays(15).String(), PetitionerKeys: []string{fmt.Sprintf("pk-%d", r.IntN(g.cases/3+1))}, Title: "t",
	})
	// Routing.
	routed := day.AddDays(1 + pick(60, 30, 8, 2)*5)
	switch pick(85, 5, 5, 5) {
	case 1:
		legal := eventsv1.LegalChannel(1 + r.IntN(9))
		if add(routed, &eventsv1.CaseDiverted{Category: category, LegalChannel: legal, Body: "法院"}) {
			add(routed, &eventsv1.CaseClosed{Reason: eventsv1.CloseReason_CLOSE_REASON_ROUTED_OUT})
		}
		return out
	case 2:
		if add(routed, &eventsv1.CaseForwarded{Category: category, Destination: "湖州市信访局"}) {
			add(routed, &eventsv1.CaseClosed{Reason: eventsv1.CloseReason_CLOSE_REASON_ROUTED_OUT})
		}
		return out
	case 3:
		if add(routed, &eventsv1.CaseNotAccepted{Reason: eventsv1.NotAcceptedReason_NOT_ACCEPTED_REASON_OUT_OF_SCOPE}) {
			add(routed, &eventsv1.CaseClosed{Reason: eventsv1.CloseReason_CLOSE_REASON_ROUTED_OUT})
		}
		return out
	}
	mode := eventsv1.AssignMode_ASSIGN_MODE_TRANSFER
	if r.IntN(10) == 0 {
		mode = eventsv1.AssignMode_ASSIGN_MODE_ASSIGN
	}
	ackDue := routed.AddDays(15)
	if !add(routed, &eventsv1.CaseAssigned{Mode: mode, Category: category, LeadDepartment: dept, AcknowledgeDue: ackDue.String(), Attempt: 1}) {
		return out
	}
	if r.IntN(50) == 0 { // objection in time, re-routed
		d := routed.AddDays(3)
		add(d, &eventsv1.CaseObjected{Department: dept, WithinWindow: true})
		dept = g.departments[r.IntN(len(g.departments))]
		routed = d.AddDays(2)
		ackDue = routed.AddDays(15)
		if !add(routed, &eventsv1.CaseAssigned{Mode: mode, Category: category, LeadDepartment: dept, AcknowledgeDue: ackDue.String(), Attempt: 2}) {
			return out
		}
	}
	ack := routed.AddDays([]int{2 + r.IntN(12), 16 + r.IntN(20), 400}[pick(90, 8, 2)])
	if r.IntN(100) < 40 {
		add(routed.AddDays(10), &eventsv1.CaseSupervisionAction{Kind: eventsv1.SupervisionActionKind_SUPERVISION_ACTION_KIND_REMINDER,
			Clock: eventsv1.Clock_CLOCK_ACKNOWLEDGE, Department: dept, Due: ackDue.String()})
	}
	if ackDue.Before(ack) {
		add(ackDue.AddDays(1), &eventsv1.CaseSupervisionAction{Kind: eventsv1.SupervisionActionKind_SUPERVISION_ACTION_KIND_OVERDUE,
			Clock: eventsv1.Clock_CLOCK_ACKNOWLEDGE, Department: dept, Due: ackDue.String()})
	}
	if !add(ack, &eventsv1.CaseAcknowledged{Department: dept, NotifiedOn: ack.String()}) {
		return out
	}
	due := ack.AddDays(60)
	if !add(ack, &eventsv1.CaseAccepted{Department: dept, Category: category, Clock: eventsv1.Clock_CLOCK_HANDLING, HandlingDue: due.String()}) {
		return out
	}
	if r.IntN(40) == 0 {
		add(ack.AddDays(5), &eventsv1.CaseFlagged{Flag: eventsv1.CaseFlag_CASE_FLAG_LEADER_OWNED, Set: true, Owner: "副县长"})
	}
	add(ack.AddDays(30), &eventsv1.CaseSupervisionAction{Kind: eventsv1.SupervisionActionKind_SUPERVISION_ACTION_KIND_REMINDER,
		Clock: eventsv1.Clock_CLOCK_HANDLING, Department: dept, Due: due.String()})
	if r.IntN(20) == 0 {
		due = due.AddDays(30)
		add(ack.AddDays(50), &eventsv1.CaseExtended{Days: 30, NewDue: due.String(), PetitionerNotified: true})
	}
	if r.IntN(20) == 0 {
		agreed := r.IntN(3) > 0
		d := ack.AddDays(20)
		add(d, &eventsv1.CaseMediated{Kind: eventsv1.MediationKind_MEDIATION_KIND_MEDIATION, AgreementReached: agreed, Summary: "s"})
		if agreed {
			add(d, &eventsv1.CaseClosed{Reason: eventsv1.CloseReason_CLOSE_REASON_MEDIATED})
			return out
		}
	}
	reply := ack.AddDays([]int{20 + r.IntN(40), 61 + r.IntN(60), 800}[pick(85, 12, 3)])
	if due.Before(reply) {
		add(due.AddDays(1), &eventsv1.CaseSupervisionAction{Kind: eventsv1.SupervisionActionKind_SUPERVISION_ACTION_KIND_OVERDUE,
			Clock: eventsv1.Clock_CLOCK_HANDLING, Department: dept, Due: due.String()})
		add(due.AddDays(3), &eventsv1.CaseSupervisionAction{Kind: eventsv1.SupervisionActionKind_SUPERVISION_ACTION_KIND_DUBAN_NOTICE,
			Clock: eventsv1.Clock_CLOCK_HANDLING, Department: dept, Due: due.String()})
	}
	if !add(reply, &eventsv1.CaseReplied{Outcome: eventsv1.ReplyOutcome(1 + r.IntN(3)), Opinion: "o", RepliedOn: reply.String()}) {
		return out
	}
	served := reply.AddDays(1 + r.IntN(5))
	if !add(served, &eventsv1.CaseServed{Method: eventsv1.ServiceMethod_SERVICE_METHOD_IN_PERSON, ServedOn: served.String()}) {
		return out
	}
	rating := func() eventsv1.Rating { return eventsv1.Rating(1 + pick(55, 25, 12, 8)) }
	add(served.AddDays(5), &eventsv1.CaseEvaluated{Target: eventsv1.EvaluationTarget_EVALUATION_TARGET_BUREAU, Rating: rating(), Department: "xfj"})
	add(served.AddDays(5), &eventsv1.CaseEvaluated{Target: eventsv1.EvaluationTarget_EVALUATION_TARGET_HANDLING_UNIT, Rating: rating(), Department: dept})
	if r.IntN(100) < 6 {
		req := served.AddDays(20)
		add(req, &eventsv1.CaseReviewRequested{ReviewingBody: "县政府", WithinWindow: true, DecisionDue: req.AddDays(30).String()})
		decided := req.AddDays([]int{10 + r.IntN(20), 31 + r.IntN(30)}[pick(90, 10)])
		if !add(decided, &eventsv1.CaseReviewDecided{ReviewingBody: "县政府", Outcome: eventsv1.ReviewOutcome(1 + pick(70, 20, 10)), Opinion: "o"}) {
			return out
		}
		if r.IntN(5) == 0 {
			rr := decided.AddDays(20)
			add(rr, &eventsv1.CaseReReviewRequested{ReviewingBody: "市政府", WithinWindow: true, DecisionDue: rr.AddDays(30).String()})
			if add(rr.AddDays(25), &eventsv1.CaseReReviewDecided{ReviewingBody: "市政府", Outcome: eventsv1.ReviewOutcome_REVIEW_OUTCOME_UPHELD, Opinion: "o"}) {
				add(rr.AddDays(25), &eventsv1.CaseFinal{Article: "36(3)"})
			}
			return out
		}
	}
	add(served.AddDays(31), &eventsv1.CaseClosed{Reason: eventsv1.CloseReason_CLOSE_REASON_COMPLETED})
	return out
}
