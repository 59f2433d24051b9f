package routing

import (
	"context"
	"encoding/json"
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
	// Preview dry-runs a petition against the live rules or given ones.
	Preview(ctx context.Context, req PreviewRequest) (*PreviewResponse, error)
	// Rules returns the rules in force.
	Rules(ctx context.Context) (*RulesResponse, error)
	// Reroute is a manual 转办 by bureau staff.
	Reroute(ctx context.Context, req RerouteRequest) (*RerouteResponse, error)
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
	now    func() time.Time
	log    *slog.Logger
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
		county: c.County, rules: c.Rules, db: c.DB, outbox: c.Outbox, inbox: inbox.New(c.DB, c.Consumer),
		now: c.Now, log: c.Log,
	}, nil
}

// HandleEvent implements Service.
func (s *service) HandleEvent(ctx context.Context, env *eventsv1.Envelope) error {
	if env.GetCounty() != "" && env.GetCounty() != s.county {
		return apierror.New(apierror.Validation, "event %s is for county %q, this is %q", env.GetEventId(), env.GetCounty(), s.county)
	}
	tracing.SetCaseID(ctx, env.GetCaseId())
	switch p := env.GetPayload().(type) {
	case *eventsv1.Envelope_PetitionRegistered:
		return s.onPetition(ctx, env, p.PetitionRegistered)
	case *eventsv1.Envelope_CaseObjected:
		return s.onObjected(ctx, env, p.CaseObjected)
	case *eventsv1.Envelope_CaseClosed:
		return s.onStatus(ctx, env, statusClosed)
	case *eventsv1.Envelope_CaseFinal:
		return s.onStatus(ctx, env, statusFinal)
	}
	return nil
}

func (s *service) onPetition(ctx context.Context, env *eventsv1.Envelope, p *eventsv1.PetitionRegistered) error {
	now := s.now()
	_, err := s.inbox.Apply(ctx, env.EventId, func(tx *store.Tx) error {
		row, err := loadCase(ctx, tx, env.CaseId)
		if err != nil {
			return err
		}
		if row != nil && row.Decision != "" {
			// Exactly one routing decision per case: a second registration
			// of the same case (a new event id) changes nothing.
			s.log.WarnContext(ctx, "case already routed; registration ignored", "case_id", env.CaseId,
				"event_id", env.EventId, "decided_by", row.DecisionEventID)
			return nil
		}
		if env.GetImported() && p.GetHistoryRouted() {
			// History brought its own routing decision as an event of its
			// own: record the case (repeats and the finality lock need it)
			// and decide nothing.
			return insertFirstDecision(ctx, tx, &caseRow{CaseID: env.CaseId, Petition: p, PetitionEventID: env.EventId,
				Imported: true, Decision: KindHistory, Attempt: 1}, now)
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
			return refusal(env.CaseId, err)
		}
		out, err := decisionEnvelope(env.CaseId, d, systemActor(), env.EventId, d.Reason, env.Imported, now)
		if err != nil {
			return err
		}
		out.EventId = newEventID()
		r := &caseRow{CaseID: env.CaseId, Petition: p, PetitionEventID: env.EventId, Imported: env.Imported,
			Excluded: excludedMap(d)}
		r.apply(d, 1, out.EventId)
		if err := insertFirstDecision(ctx, tx, r, now); err != nil {
			return err
		}
		if err := auditDecision(ctx, tx, out, d, now); err != nil {
			return err
		}
		s.log.InfoContext(ctx, "case routed", "case_id", env.CaseId, "kind", d.Kind, "lead", d.Lead,
			"rule", d.RuleID, "rules_version", d.RulesVersion)
		return s.outbox.Enqueue(ctx, tx, out)
	})
	return err
}

func (s *service) onObjected(ctx context.Context, env *eventsv1.Envelope, o *eventsv1.CaseObjected) error {
	if !o.GetWithinWindow() {
		// Supervision recorded it; Art. 23(3) honours only objections within
		// 5 working days.
		s.log.InfoContext(ctx, "late objection not honoured", "case_id", env.CaseId, "department", o.GetDepartment())
		return nil
	}
	now := s.now()
	_, err := s.inbox.Apply(ctx, env.EventId, func(tx *store.Tx) error {
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
			return refusal(env.CaseId, err)
		}
		reason := fmt.Sprintf("%s objected to the assignment (Art. 23(3)); routed again without it. %s", dept, d.Reason)
		out, err := decisionEnvelope(env.CaseId, d, systemActor(), env.EventId, reason, row.Imported, now)
		if err != nil {
			return err
		}
		out.EventId = newEventID()
		prev := row.Attempt
		row.Excluded = excluded
		row.apply(d, row.Attempt+1, out.EventId)
		if err := updateDecision(ctx, tx, row, prev, now); err != nil {
			return err
		}
		if err := auditDecision(ctx, tx, out, d, now); err != nil {
			return err
		}
		s.log.InfoContext(ctx, "case re-routed after objection", "case_id", env.CaseId, "objected", dept,
			"kind", d.Kind, "lead", d.Lead, "attempt", row.Attempt)
		return s.outbox.Enqueue(ctx, tx, out)
	})
	return err
}

func (s *service) onStatus(ctx context.Context, env *eventsv1.Envelope, status string) error {
	now := s.now()
	_, err := s.inbox.Apply(ctx, env.EventId, func(tx *store.Tx) error {
		return setStatus(ctx, tx, env.CaseId, status, now)
	})
	return err
}

// refusal turns a decision error into a domain refusal of the event.
func refusal(caseID string, err error) error {
	if errors.Is(err, ErrNoDepartment) {
		return apierror.New(apierror.Conflict, "case %s: %v; route it by hand (POST /v1/cases/%s/reroute)", caseID, err, caseID)
	}
	return err
}

func excludedMap(d Decision) map[string]string {
	m := map[string]string{}
	for _, o := range d.Overrides {
		if o.Excluded != "" {
			m[o.Excluded] = o.Guard
		}
	}
	for _, e := range d.Excluded {
		if _, ok := m[e]; !ok {
			m[e] = GuardAccusation
		}
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

// PreviewRequest is a dry run of a petition.
type PreviewRequest struct {
	Petition Input `json:"petition"`
	// Rules, when given, are used instead of the live rules: a whole
	// County manifest or a bare spec, as a JSON object or as YAML/JSON text
	// in a string.
	Rules json.RawMessage `json:"rules,omitempty"`
	// Excluded simulates departments excluded after an objection or by
	// recusal: department id → "objection" | "recusal".
	Excluded map[string]string `json:"excluded,omitempty"`
	// RoutingDate (YYYY-MM-DD) is the day to compute deadlines from;
	// today by default.
	RoutingDate string `json:"routingDate,omitempty"`
}

// PreviewResponse is the decision a petition would get, and why.
type PreviewResponse struct {
	County       string    `json:"county"`
	RulesVersion string    `json:"rulesVersion"`
	RulesSource  string    `json:"rulesSource"` // "live" | "request"
	Decision     Decision  `json:"decision"`
	Repeat       *Repeat   `json:"repeat,omitempty"`
	MatchedRule  *RuleView `json:"matchedRule,omitempty"`
	// Rules are the rules tried in order up to the deciding one, each with
	// why it did not match (or which guard passed it over).
	Rules []RuleTrace `json:"rules"`
}

// RuleView is a routing rule as the API shows it.
type RuleView = county.RoutingRule

// Preview implements Service.
func (s *service) Preview(ctx context.Context, req PreviewRequest) (*PreviewResponse, error) {
	if _, err := auth.Require(ctx, auth.RoleSupervisor, auth.RoleAdmin); err != nil {
		return nil, err
	}
	rs, source := s.rules.Current(), "live"
	if len(req.Rules) > 0 && string(req.Rules) != "null" {
		var err error
		if rs, err = s.parseRules(req.Rules, rs.ID()); err != nil {
			return nil, err
		}
		source = "request"
	}
	fields := apierror.Fields{}
	validateInput(fields, "petition", &req.Petition)
	for id, g := range req.Excluded {
		if g != GuardObjection && g != GuardRecusal {
			fields.Add("excluded."+id, "must be %q or %q", GuardObjection, GuardRecusal)
		}
	}
	date := RoutingDate(s.now())
	if req.RoutingDate != "" {
		d, err := county.ParseDate(req.RoutingDate)
		if err != nil {
			fields.Add("routingDate", "must be a YYYY-MM-DD date")
		}
		date = d
	}
	if err := fields.Err(); err != nil {
		return nil, err
	}
	var rep Repeat
	if req.Petition.RepeatOf != "" {
		var err error
		if rep, err = resolveRepeat(ctx, s.db, req.Petition.CaseID, req.Petition.RepeatOf); err != nil {
			return nil, err
		}
	}
	d, trace, err := Decide(rs, req.Petition, Options{RoutingDate: date, Excluded: req.Excluded, Attempt: 1, Repeat: rep, Explain: true})
	if err != nil {
		return nil, apierror.New(apierror.Conflict, "%v", err)
	}
	resp := &PreviewResponse{County: rs.ID(), RulesVersion: rs.Version(), RulesSource: source, Decision: d, Rules: trace.Rules}
	if rep.State != RepeatNone {
		resp.Repeat = &rep
	}
	for i := range rs.Config.Spec.RoutingRules {
		if r := &rs.Config.Spec.RoutingRules[i]; r.ID == d.RuleID {
			resp.MatchedRule = r
		}
	}
	if resp.Rules == nil {
		resp.Rules = []RuleTrace{}
	}
	return resp, nil
}

// parseRules reads a rules document of a preview request. A document
// without a county id (a bare spec) is read as this county's.
func (s *service) parseRules(raw json.RawMessage, countyID string) (*Ruleset, error) {
	data := []byte(raw)
	var text string
	if json.Unmarshal(raw, &text) == nil {
		data = []byte(text)
	}
	cfg, err1 := county.Parse(data)
	if err1 != nil {
		var err2 error
		cfg, err2 = county.Parse(data, county.WithCountyID(countyID))
		if err2 != nil {
			var ve *county.ValidationError
			if errors.As(err1, &ve) {
				return nil, rulesError(err1)
			}
			return nil, rulesError(err2)
		}
	}
	rs, err := Compile(cfg)
	if err != nil {
		return nil, rulesError(err)
	}
	return rs, nil
}

// rulesError reports an invalid rules document with a field per problem.
func rulesError(err error) error {
	var ve *county.ValidationError
	if errors.As(err, &ve) {
		f := apierror.Fields{}
		for _, fe := range ve.Errors {
			f.Add("rules."+fe.Path, "%s", fe.Message)
		}
		return &apierror.Error{Kind: apierror.Validation, Message: "the rules document is invalid: " + err.Error(), Fields: f}
	}
	return &apierror.Error{Kind: apierror.Validation, Message: "the rules document is invalid",
		Fields: apierror.Fields{"rules": err.Error()}}
}

var (
	validChannels   = []county.Channel{county.ChannelWeb, county.ChannelLetter, county.ChannelVisit, county.ChannelPhone, county.ChannelFax}
	validCategories = []county.Category{county.CategoryComplaint, county.CategorySuggestion, county.CategoryAccusation}
)

func validateInput(f apierror.Fields, p string, in *Input) {
	if in.Channel != "" && !slices.Contains(validChannels, in.Channel) {
		f.Add(p+".channel", "must be one of %v", validChannels)
	}
	if in.CategoryHint != "" && !slices.Contains(validCategories, in.CategoryHint) {
		f.Add(p+".categoryHint", "must be one of %v", validCategories)
	}
	if in.PersonCount < 0 {
		f.Add(p+".personCount", "must not be negative")
	}
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
		if err := fields.Err(); err != nil {
			return err
		}
		d, bad := ManualAssign(rs, InputFromEvent(req.CaseID, row.Petition), county.Category(row.Category), req.Lead, req.Co,
			Options{RoutingDate: RoutingDate(now), Excluded: excluded, Attempt: row.Attempt + 1})
		if len(bad) > 0 {
			return &apierror.Error{Kind: apierror.Validation, Message: "the case may not go there", Fields: bad}
		}
		d.Reason = req.Reason
		actor := &eventsv1.Actor{Kind: eventsv1.ActorKind_ACTOR_KIND_BUREAU, Id: claims.Subject,
			Department: claims.Department, Role: string(claims.Role)}
		out, err := decisionEnvelope(req.CaseID, d, actor, row.DecisionEventID, req.Reason, false, now)
		if err != nil {
			return err
		}
		out.EventId = newEventID()
		prev := row.Attempt
		row.Excluded = excluded
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
			"lead", d.Lead, "attempt", d.Attempt)
		resp = &RerouteResponse{CaseID: req.CaseID, EventID: out.EventId, Decision: d}
		return s.outbox.Enqueue(ctx, tx, out)
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}
