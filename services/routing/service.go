package routing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"xinfang.io/county"
	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/apierror"
	"xinfang.io/services/kit/auth"
	"xinfang.io/services/kit/inbox"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/tracing"
)

// Service routes registered petitions (see the package documentation).
type Service interface {
	// HandleEvent applies a consumed event: petition.registered is routed;
	// case.objected re-routes; case.closed and case.final update the case's
	// status. Other events are ignored. Applied at most once per event id.
	HandleEvent(ctx context.Context, env *eventsv1.Envelope) error
	// HandleEvents applies a run of consumed events in one transaction,
	// all or nothing.
	HandleEvents(ctx context.Context, events []Event) error
	// Preview dry-runs a petition against the live rules or given ones.
	Preview(ctx context.Context, req PreviewRequest) (*PreviewResponse, error)
	// Rules returns the rules in force.
	Rules(ctx context.Context) (*RulesResponse, error)
	// Reroute is a manual 转办 by bureau staff; it also resolves a case
	// awaiting manual routing.
	Reroute(ctx context.Context, req RerouteRequest) (*RerouteResponse, error)
	// Case is routing's state of a case and its decisions (bureau staff).
	Case(ctx context.Context, caseID string) (*CaseView, error)
	// Cases lists cases in one state, by default those awaiting manual
	// routing (bureau staff).
	Cases(ctx context.Context, req CasesRequest) (*CasesResponse, error)
}

// Enqueuer adds events to the transactional outbox (*outbox.Outbox).
type Enqueuer interface {
	Enqueue(ctx context.Context, tx *store.Tx, envs ...*eventsv1.Envelope) error
}

// Config wires a Service.
type Config struct {
	// County is the county id events must carry.
	County string
	Rules  *Rules
	DB     *store.DB
	Outbox Enqueuer
	// Consumer names the inbox of the consumed events (the consumer group).
	Consumer string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	Log *slog.Logger
}

type service struct {
	county string
	rules  *Rules
	db     *store.DB
	outbox Enqueuer
	inbox  *inbox.Inbox
	// consumer names the inbox (batches record into it themselves).
	consumer string
	now      func() time.Time
	log      *slog.Logger
}

// New returns the routing service.
func New(c Config) (Service, error) {
	if c.Rules == nil || c.DB == nil || c.Outbox == nil || c.Consumer == "" || c.County == "" {
		return nil, errors.New("routing: county, rules, database, outbox and consumer name are required")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	return &service{
		county: c.County, rules: c.Rules, db: c.DB, outbox: c.Outbox, inbox: inbox.New(c.DB, c.Consumer), consumer: c.Consumer,
		now: c.Now, log: c.Log,
	}, nil
}

// HandleEvent implements Service.
func (s *service) HandleEvent(ctx context.Context, env *eventsv1.Envelope) error {
	if err := s.check(ctx, env); err != nil || !consumed(env) {
		return err
	}
	now := s.now()
	_, err := s.inbox.Apply(ctx, env.EventId, func(tx *store.Tx) error { return s.apply(ctx, tx, env, now) })
	return err
}

// Event is a consumed event with the context of its own consumer span, so
// that what it causes (logs, decisions) stays in its case's trace.
type Event struct {
	Context  context.Context
	Envelope *eventsv1.Envelope
}

// HandleEvents implements Service: a run of fetched events is applied in
// one transaction — each at most once (the inbox), in order — so that a
// backlog costs one commit per run instead of one per event. It is all or
// nothing: on any error nothing is kept, and the consumer hands the
// events to HandleEvent one at a time (a poison event is dead-lettered
// alone).
func (s *service) HandleEvents(ctx context.Context, events []Event) error {
	now := s.now()
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		for _, e := range events {
			ectx, env := e.Context, e.Envelope
			if ectx == nil {
				ectx = ctx
			}
			if err := s.check(ectx, env); err != nil {
				return err
			}
			if !consumed(env) {
				continue
			}
			if fresh, err := recordInbox(ectx, tx, s.consumer, env.GetEventId(), now); err != nil || !fresh {
				if err != nil {
					return err
				}
				continue
			}
			if err := s.apply(ectx, tx, env, now); err != nil {
				return err
			}
		}
		return nil
	})
}

// check refuses an event of another county and names the case on the span.
func (s *service) check(ctx context.Context, env *eventsv1.Envelope) error {
	if env.GetCounty() != "" && env.GetCounty() != s.county {
		return apierror.New(apierror.Validation, "event %s is for county %q, this is %q", env.GetEventId(), env.GetCounty(), s.county)
	}
	tracing.SetCaseID(ctx, env.GetCaseId())
	return nil
}

// consumed says whether routing acts on an event; the others (most of the
// cases stream) are skipped without a trace in the inbox.
func consumed(env *eventsv1.Envelope) bool {
	switch env.GetPayload().(type) {
	case *eventsv1.Envelope_PetitionRegistered, *eventsv1.Envelope_CaseObjected, *eventsv1.Envelope_CaseClosed, *eventsv1.Envelope_CaseFinal:
		return true
	}
	return false
}

// apply applies one consumed event inside tx.
func (s *service) apply(ctx context.Context, tx *store.Tx, env *eventsv1.Envelope, now time.Time) error {
	switch p := env.GetPayload().(type) {
	case *eventsv1.Envelope_PetitionRegistered:
		return s.onPetition(ctx, tx, env, p.PetitionRegistered, now)
	case *eventsv1.Envelope_CaseObjected:
		return s.onObjected(ctx, tx, env, p.CaseObjected, now)
	case *eventsv1.Envelope_CaseClosed:
		return setStatus(ctx, tx, env.CaseId, statusClosed, now)
	case *eventsv1.Envelope_CaseFinal:
		return setStatus(ctx, tx, env.CaseId, statusFinal, now)
	}
	return nil
}

func (s *service) onPetition(ctx context.Context, tx *store.Tx, env *eventsv1.Envelope, p *eventsv1.PetitionRegistered, now time.Time) error {
	// Exactly one routing decision per case: the case row is inserted
	// only when the case has no decision yet (insertFirstDecision), so a
	// second registration of the same case (a new event id) changes
	// nothing. Checking by the insert rather than a read first saves a
	// query per petition; a duplicate is rare and costs a Decide.
	if env.GetImported() && p.GetHistoryRouted() {
		// History brought its own routing decision as an event of its
		// own: record the case (repeats and the finality lock need it)
		// and decide nothing.
		err := insertFirstDecision(ctx, tx, &caseRow{CaseID: env.CaseId, Petition: p, PetitionEventID: env.EventId,
			Imported: true, Decision: KindHistory, Attempt: 1}, now)
		return s.alreadyRouted(ctx, tx, env, err)
	}
	rs := s.rules.Current()
	in := InputFromEvent(env.CaseId, p)
	rep, err := resolveRepeat(ctx, tx, env.CaseId, in.RepeatOf)
	if err != nil {
		return err
	}
	routingDay := now
	if env.GetImported() && p.GetReceivedAt() != nil {
		// An imported case still waiting for routing is routed as of the
		// day it arrived, so its clocks run from history, not from today.
		routingDay = p.GetReceivedAt().AsTime()
	}
	d, _, err := Decide(rs, in, Options{RoutingDate: RoutingDate(routingDay), Attempt: 1, Repeat: rep})
	if err != nil {
		return err
	}
	out, err := decisionEnvelope(env.CaseId, d, systemActor(), env.EventId, d.Reason, env.Imported, now)
	if err != nil {
		return err
	}
	out.EventId = newEventID()
	r := &caseRow{CaseID: env.CaseId, Petition: p, PetitionEventID: env.EventId, Imported: env.Imported,
		Excluded: excludedMap(d)}
	attempt := uint32(1)
	if d.Kind == KindAwaitingManual {
		// No attempt was made: the manual 转办 will be attempt 1.
		attempt = 0
	}
	r.apply(d, attempt, out.EventId)
	if err := insertFirstDecision(ctx, tx, r, now); err != nil {
		return s.alreadyRouted(ctx, tx, env, err)
	}
	return s.emit(ctx, tx, out, d, now, "case routed")
}

// alreadyRouted turns insertFirstDecision's errStale (the case has its
// decision) into nothing to do, with a warning.
func (s *service) alreadyRouted(ctx context.Context, tx *store.Tx, env *eventsv1.Envelope, err error) error {
	if !errors.Is(err, errStale) {
		return err
	}
	row, lerr := loadCase(ctx, tx, env.CaseId)
	if lerr != nil {
		return lerr
	}
	decidedBy := ""
	if row != nil {
		decidedBy = row.DecisionEventID
	}
	s.log.WarnContext(ctx, "case already routed; registration ignored", "case_id", env.CaseId,
		"event_id", env.EventId, "decided_by", decidedBy)
	return nil
}

// emit audits a decision and enqueues its event. A case awaiting manual
// routing is announced to bureau staff (alert.raised) unless it is imported
// history, which raises no alerts; the GET endpoints list it either way.
func (s *service) emit(ctx context.Context, tx *store.Tx, out *eventsv1.Envelope, d Decision, now time.Time, msg string) error {
	if err := auditDecision(ctx, tx, out, d, now); err != nil {
		return err
	}
	if d.Kind == KindAwaitingManual {
		s.log.WarnContext(ctx, "case awaits manual routing: no department may receive it", "case_id", out.CaseId,
			"excluded", d.Excluded, "rules_version", d.RulesVersion, "attempt", d.Attempt)
		if out.Imported {
			return nil
		}
		return s.outbox.Enqueue(ctx, tx, out)
	}
	s.log.InfoContext(ctx, msg, "case_id", out.CaseId, "kind", d.Kind, "lead", d.Lead,
		"rule", d.RuleID, "rules_version", d.RulesVersion, "attempt", d.Attempt)
	return s.outbox.Enqueue(ctx, tx, out)
}

func (s *service) onObjected(ctx context.Context, tx *store.Tx, env *eventsv1.Envelope, o *eventsv1.CaseObjected, now time.Time) error {
	if !o.GetWithinWindow() {
		// Supervision recorded it; Art. 23(3) honours only objections within
		// 5 working days.
		s.log.InfoContext(ctx, "late objection not honoured", "case_id", env.CaseId, "department", o.GetDepartment())
		return nil
	}
	row, err := loadCase(ctx, tx, env.CaseId)
	if err != nil {
		return err
	}
	if row == nil || row.Petition == nil {
		return apierror.New(apierror.NotFound, "objection to case %s, which routing never routed", env.CaseId)
	}
	dept := o.GetDepartment()
	switch {
	case row.Status != statusOpen || row.Decision != KindAssigned:
		s.log.WarnContext(ctx, "objection to a case that is not assigned and open; ignored", "case_id", env.CaseId,
			"status", row.Status, "decision", row.Decision, "department", dept)
		return nil
	case dept != row.Lead && !slices.Contains(row.Co, dept):
		s.log.WarnContext(ctx, "objection by a department the case is not assigned to; ignored", "case_id", env.CaseId,
			"department", dept, "lead", row.Lead)
		return nil
	}
	excluded := cloneMap(row.Excluded)
	excluded[dept] = GuardObjection
	rs := s.rules.Current()
	d, _, err := Decide(rs, InputFromEvent(env.CaseId, row.Petition), Options{
		RoutingDate: RoutingDate(now), Excluded: excluded, Attempt: row.Attempt + 1, Rerouting: true,
		Category: county.Category(row.Category),
	})
	if err != nil {
		return err
	}
	reason := fmt.Sprintf("%s objected to the assignment (Art. 23(3)); routed again without it. %s", dept, d.Reason)
	out, err := decisionEnvelope(env.CaseId, d, systemActor(), env.EventId, reason, row.Imported, now)
	if err != nil {
		return err
	}
	out.EventId = newEventID()
	prev := row.Attempt
	row.Excluded = excludedMap(d)
	attempt := row.Attempt + 1
	if d.Kind == KindAwaitingManual {
		attempt = row.Attempt // nothing was attempted; the manual 转办 takes the next number
	}
	row.apply(d, attempt, out.EventId)
	if err := updateDecision(ctx, tx, row, prev, now); err != nil {
		return err
	}
	return s.emit(ctx, tx, out, d, now, "case re-routed after objection")
}

// excludedMap is what a case row keeps of a decision's exclusions: the
// department and its guard, so that a later re-routing keeps them.
func excludedMap(d Decision) map[string]string {
	m := make(map[string]string, len(d.Exclusions))
	for _, e := range d.Exclusions {
		m[e.Department] = e.Guard
	}
	return m
}

func cloneMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// RulesResponse is the rules in force.
type RulesResponse struct {
	County            string               `json:"county"`
	DisplayName       string               `json:"displayName"`
	Version           string               `json:"version"`
	DefaultDepartment string               `json:"defaultDepartment"`
	AcknowledgeDays   int                  `json:"acknowledgeDays"`
	Departments       []county.Department  `json:"departments"`
	RoutingRules      []county.RoutingRule `json:"routingRules"`
	// Rejected says why the newest rules file is not in force, when it is
	// not: the rules above stay in force until a valid one arrives.
	Rejected string `json:"rejected,omitempty"`
}

// Rules implements Service.
func (s *service) Rules(ctx context.Context) (*RulesResponse, error) {
	if _, ok := auth.FromContext(ctx); !ok {
		return nil, auth.ErrUnauthenticated
	}
	rs := s.rules.Current()
	spec := &rs.Config.Spec
	resp := &RulesResponse{
		County: rs.ID(), DisplayName: spec.DisplayName, Version: rs.Version(), DefaultDepartment: spec.DefaultDepartment,
		AcknowledgeDays: rs.Config.Deadlines.AcknowledgeDays, Departments: spec.Departments, RoutingRules: spec.RoutingRules,
	}
	if resp.RoutingRules == nil {
		resp.RoutingRules = []county.RoutingRule{}
	}
	if err := s.rules.LastError(); err != nil {
		resp.Rejected = err.Error()
	}
	return resp, nil
}

// RerouteRequest is a manual 转办.
type RerouteRequest struct {
	CaseID string `json:"-"`
	// Reason is mandatory: it is the audit record's and the event's reason.
	Reason string `json:"reason"`
	// Lead and Co are the departments the case goes to.
	Lead string   `json:"lead"`
	Co   []string `json:"co,omitempty"`
	// Exclude lists departments to keep off the case from now on
	// (recusal, Art. 28(3)).
	Exclude []string `json:"exclude,omitempty"`
	// Recuse names officials with a direct interest in the matter (Art.
	// 28(3)), by name or as "<department> <name>": the departments they
	// lead or belong to (per the county file) are kept off the case from
	// now on.
	Recuse []string `json:"recuse,omitempty"`
}

// RerouteResponse is the new decision and the event that carries it.
type RerouteResponse struct {
	CaseID   string   `json:"caseId"`
	EventID  string   `json:"eventId"`
	Decision Decision `json:"decision"`
}

const maxReasonRunes = 1000

// Reroute implements Service.
func (s *service) Reroute(ctx context.Context, req RerouteRequest) (*RerouteResponse, error) {
	claims, err := auth.Require(ctx, auth.RoleSupervisor, auth.RoleAdmin)
	if err != nil {
		return nil, err
	}
	tracing.SetCaseID(ctx, req.CaseID)
	fields := apierror.Fields{}
	req.Reason = strings.TrimSpace(req.Reason)
	switch n := utf8.RuneCountInString(req.Reason); {
	case n == 0:
		fields.Add("reason", "required: a manual re-routing (转办) is recorded with its reason")
	case n > maxReasonRunes:
		fields.Add("reason", "must be at most %d characters, has %d", maxReasonRunes, n)
	}
	if req.Lead == "" {
		fields.Add("lead", "required: the department the case goes to")
	}
	if err := fields.Err(); err != nil {
		return nil, err
	}
	now := s.now()
	var resp *RerouteResponse
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		row, err := loadCase(ctx, tx, req.CaseID)
		if err != nil {
			return err
		}
		if row == nil || row.Petition == nil {
			return apierror.New(apierror.NotFound, "case %s was never routed here", req.CaseID)
		}
		switch row.Status {
		case statusFinal:
			return apierror.New(apierror.IllegalTransition, "case %s is final after re-review (Art. 36(3)); it cannot be routed again", req.CaseID)
		case statusClosed:
			return apierror.New(apierror.IllegalTransition, "case %s is closed; it cannot be routed again", req.CaseID)
		}
		rs := s.rules.Current()
		excluded := cloneMap(row.Excluded)
		for i, id := range req.Exclude {
			if _, ok := rs.Department(id); !ok {
				fields.Add(fmt.Sprintf("exclude[%d]", i), "department %q is not defined in county %s", id, rs.ID())
				continue
			}
			if _, already := excluded[id]; !already {
				excluded[id] = GuardRecusal
			}
		}
		for i, name := range req.Recuse {
			if len(rs.officialsNamed(name)) == 0 {
				fields.Add(fmt.Sprintf("recuse[%d]", i), "no department of county %s lists %q as its leader or a member (departments[].leader.name, departments[].members)", rs.ID(), name)
			}
		}
		if err := fields.Err(); err != nil {
			return err
		}
		d, bad := ManualAssign(rs, InputFromEvent(req.CaseID, row.Petition), county.Category(row.Category), req.Lead, req.Co,
			Options{RoutingDate: RoutingDate(now), Excluded: excluded, Attempt: row.Attempt + 1, Recused: req.Recuse})
		if len(bad) > 0 {
			return &apierror.Error{Kind: apierror.Validation, Message: "the case may not go there", Fields: bad}
		}
		d.Reason = req.Reason
		awaiting := row.Decision == KindAwaitingManual
		actor := &eventsv1.Actor{Kind: eventsv1.ActorKind_ACTOR_KIND_BUREAU, Id: claims.Subject,
			Department: claims.Department, Role: string(claims.Role)}
		out, err := decisionEnvelope(req.CaseID, d, actor, row.DecisionEventID, req.Reason, false, now)
		if err != nil {
			return err
		}
		out.EventId = newEventID()
		prev := row.Attempt
		row.Excluded = excludedMap(d)
		row.apply(d, d.Attempt, out.EventId)
		if err := updateDecision(ctx, tx, row, prev, now); err != nil {
			if errors.Is(err, errStale) {
				return apierror.New(apierror.Conflict, "case %s was routed again meanwhile; reload and retry", req.CaseID)
			}
			return err
		}
		if err := auditDecision(ctx, tx, out, d, now); err != nil {
			return err
		}
		s.log.InfoContext(ctx, "case re-routed by hand", "case_id", req.CaseID, "staff", claims.Subject,
			"lead", d.Lead, "attempt", d.Attempt, "was_awaiting_manual", awaiting)
		resp = &RerouteResponse{CaseID: req.CaseID, EventID: out.EventId, Decision: d}
		return s.outbox.Enqueue(ctx, tx, out)
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}
