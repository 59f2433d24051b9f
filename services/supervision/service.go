// Package supervision is the supervision service: it owns the case state
// machine after routing (package casemachine), every statutory clock and
// the durable timers that remind and escalate (督办), and serves the
// department work API. It consumes the routing stream and publishes the
// lifecycle events on the cases stream through the outbox.
package supervision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"xinfang.io/county"
	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/apierror"
	"xinfang.io/services/kit/auth"
	"xinfang.io/services/kit/inbox"
	"xinfang.io/services/kit/kafkatransport"
	"xinfang.io/services/kit/outbox"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/tracing"
	"xinfang.io/services/supervision/casemachine"
)

// Service is the supervision domain as the transports see it.
type Service interface {
	// List returns a page of the cases the caller may see.
	List(ctx context.Context, q ListQuery) (*ListResult, error)
	// Get returns a case with its deadlines and history.
	Get(ctx context.Context, caseID string) (*CaseView, error)
	// Act applies a staff action to a case.
	Act(ctx context.Context, caseID string, cmd casemachine.Command) (*ActResult, error)
	// ApplyRouting applies a routing decision consumed from Kafka, once.
	ApplyRouting(ctx context.Context, env *eventsv1.Envelope) error
	// Document renders a written notice of the case (HTML).
	Document(ctx context.Context, caseID, name string) (string, error)
}

// Clock tells the time; tests substitute a fake one.
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// SystemClock is the wall clock.
var SystemClock Clock = systemClock{}

// Enqueuer is the outbox as the service uses it.
type Enqueuer interface {
	Enqueue(ctx context.Context, tx *store.Tx, envs ...*eventsv1.Envelope) error
}

// Config builds a Supervision.
type Config struct {
	DB     *store.DB
	Outbox Enqueuer
	// County returns the county rules in force; read once per unit of work.
	County func() *county.Config
	Clock  Clock
	// Consumer names the inbox of the routing consumer (its group id).
	Consumer string
	Log      *slog.Logger
	Registry prometheus.Registerer
	NewID    func() string
	// TimerBatch is how many due timers one scan takes and one transaction
	// fires (default 100); TimerPoll the longest sleep of the timer worker
	// (default 30s).
	TimerBatch int
	TimerPoll  time.Duration
}

// Supervision implements Service and runs the timers.
type Supervision struct {
	db      *store.DB
	outbox  Enqueuer
	inbox   *inbox.Inbox
	config  func() *county.Config
	clock   Clock
	newID   func() string
	log     *slog.Logger
	wake    *wakeup
	batch   int
	poll    time.Duration
	metrics *metrics
	// replanPage: open cases per re-plan transaction (tests make it small).
	replanPage int
	// hook is called at the crash points of the timer and re-plan tests.
	hook func(stage string)
}

// New returns the service. Migrations must have been applied.
func New(c Config) *Supervision {
	s := &Supervision{db: c.DB, outbox: c.Outbox, inbox: inbox.New(c.DB, c.Consumer), config: c.County,
		clock: c.Clock, newID: c.NewID, log: c.Log, wake: newWakeup(), batch: c.TimerBatch, poll: c.TimerPoll,
		metrics: newMetrics(c.Registry), hook: func(string) {}}
	if s.clock == nil {
		s.clock = SystemClock
	}
	if s.newID == nil {
		s.newID = outbox.NewEventID
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.batch <= 0 {
		s.batch = 100
	}
	if s.poll <= 0 {
		s.poll = 30 * time.Second
	}
	return s
}

func (s *Supervision) env(cfg *county.Config) casemachine.Env {
	return casemachine.Env{Config: cfg, Now: s.clock.Now(), NewID: s.newID}
}

// staff are the roles that may use the work API at all.
var staff = []auth.Role{auth.RoleDepartment, auth.RoleSupervisor, auth.RoleLeader}

// seesAll reports whether the caller's role sees every case.
func seesAll(cl *auth.Claims) bool {
	return cl.Role == auth.RoleSupervisor || cl.Role == auth.RoleLeader
}

func canSee(cl *auth.Claims, c *casemachine.Case) bool {
	return seesAll(cl) || (cl.Role == auth.RoleDepartment && c.VisibleTo(cl.Department))
}

func notFound(caseID string) error {
	return apierror.New(apierror.NotFound, "no case %s", caseID)
}

// permitted says whether the caller may take action a on c (who may do
// what; the state machine then says whether the state allows it).
//
//   - the handling department's acts (acknowledge, decline … serve,
//     mediate): its own staff, or the bureau's supervisors;
//   - the petitioner's acts recorded by staff (evaluate, request-review,
//     request-rereview): the handling department or a supervisor;
//   - the petitioner's withdrawal: the handling department, the body
//     deciding a pending review, or a supervisor;
//   - review decisions and hearings: the reviewing body's staff or a
//     supervisor;
//   - 退回重办: the bureau (supervisor); flags: supervisor or leader;
//   - answering a 督办 notice: the department it is addressed to, or a
//     supervisor recording a paper answer.
func permitted(cl *auth.Claims, c *casemachine.Case, cmd casemachine.Command) error {
	sup := cl.Role == auth.RoleSupervisor
	dept := cl.Role == auth.RoleDepartment
	ok := false
	switch cmd.Action {
	case casemachine.ActAcknowledge, casemachine.ActDecline, casemachine.ActObject, casemachine.ActAccept, casemachine.ActExtend,
		casemachine.ActReply, casemachine.ActServe, casemachine.ActMediate,
		casemachine.ActEvaluate, casemachine.ActRequestReview, casemachine.ActRequestReReview:
		ok = sup || (dept && cl.Department == c.Department)
	case casemachine.ActWithdraw:
		ok = sup || (dept && cl.Department != "" && (cl.Department == c.Department || cl.Department == c.ReviewingBody()))
	case casemachine.ActDecideReview, casemachine.ActHearing, casemachine.ActDecideReReview:
		ok = sup || (dept && cl.Department != "" && cl.Department == c.ReviewingBody())
	case casemachine.ActReturn:
		ok = sup
	case casemachine.ActFlag:
		ok = sup || cl.Role == auth.RoleLeader
	case casemachine.ActAnswerSupervision:
		n := c.Notice(cmd.ActionEventID)
		ok = sup || (dept && (n == nil && cl.Department == c.Department || n != nil && n.Department == cl.Department))
	default:
		ok = sup
	}
	if !ok {
		return fmt.Errorf("%w: role %s of department %q may not %s case %s", auth.ErrForbidden, cl.Role, cl.Department, cmd.Action, c.ID)
	}
	return nil
}

func actorOf(cl *auth.Claims, imported bool) *eventsv1.Actor {
	kind := eventsv1.ActorKind_ACTOR_KIND_BUREAU
	switch {
	case imported:
		kind = eventsv1.ActorKind_ACTOR_KIND_IMPORTER
	case cl.Role == auth.RoleDepartment:
		kind = eventsv1.ActorKind_ACTOR_KIND_DEPARTMENT
	}
	return &eventsv1.Actor{Kind: kind, Id: cl.Subject, Department: cl.Department, Role: string(cl.Role)}
}

// ActResult answers an action: the case after it and the events it caused.
type ActResult struct {
	Case   *CaseView  `json:"case"`
	Events []EventRef `json:"events"`
}

// EventRef names an event.
type EventRef struct {
	EventID string `json:"eventId"`
	Type    string `json:"type"`
}

// Act applies a staff action to a case.
func (s *Supervision) Act(ctx context.Context, caseID string, cmd casemachine.Command) (*ActResult, error) {
	cl, err := auth.Require(ctx, staff...)
	if err != nil {
		return nil, err
	}
	tracing.SetCaseID(ctx, caseID)
	cfg := s.config()
	cmd.Actor = actorOf(cl, !cmd.At.IsZero())
	var out *ActResult
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		c, err := loadCase(ctx, tx, caseID, true)
		if err != nil {
			return err
		}
		if c == nil || !canSee(cl, c) {
			return notFound(caseID)
		}
		if err := permitted(cl, c, cmd); err != nil {
			return err
		}
		env := s.env(cfg)
		res, err := casemachine.Act(c, cmd, env)
		if err != nil {
			return err
		}
		if err := s.persist(ctx, tx, c, res, cfg); err != nil {
			return err
		}
		out = &ActResult{Case: s.view(cl, res.Case, county.DateOf(env.Now))}
		for _, ev := range res.Events {
			out.Events = append(out.Events, EventRef{EventID: ev.GetEventId(), Type: ev.TypeName()})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.metrics.transitions.WithLabelValues(string(cmd.Action)).Inc()
	return out, nil
}

// Get returns a case with every deadline and its history.
func (s *Supervision) Get(ctx context.Context, caseID string) (*CaseView, error) {
	cl, err := auth.Require(ctx, staff...)
	if err != nil {
		return nil, err
	}
	tracing.SetCaseID(ctx, caseID)
	c, err := loadCase(ctx, s.db, caseID, false)
	if err != nil {
		return nil, err
	}
	if c == nil || !canSee(cl, c) {
		return nil, notFound(caseID)
	}
	v := s.view(cl, c, county.DateOf(s.clock.Now()))
	if v.History, err = loadHistory(ctx, s.db, caseID); err != nil {
		return nil, err
	}
	return v, nil
}

// ListResult is a page of cases; Next is the cursor of the next page.
type ListResult struct {
	Cases []*CaseView `json:"cases"`
	Next  string      `json:"next,omitempty"`
}

// MaxListLimit bounds a page.
const MaxListLimit = 500

// List returns the cases the caller may see, filtered.
func (s *Supervision) List(ctx context.Context, q ListQuery) (*ListResult, error) {
	cl, err := auth.Require(ctx, staff...)
	if err != nil {
		return nil, err
	}
	f := apierror.Fields{}
	if q.State != "" && !slices.Contains(casemachine.States, q.State) {
		f.Add("state", "%q is not a case state", q.State)
	}
	if q.Limit == 0 {
		q.Limit = 100
	}
	if q.Limit < 1 || q.Limit > MaxListLimit {
		f.Add("limit", "must be 1 to %d", MaxListLimit)
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	visibleTo := ""
	if !seesAll(cl) {
		if q.Department != "" && q.Department != cl.Department {
			return nil, fmt.Errorf("%w: department staff see only their own department's cases", auth.ErrForbidden)
		}
		visibleTo = cl.Department
	}
	today := county.DateOf(s.clock.Now())
	cases, err := listCases(ctx, s.db, q, visibleTo, today)
	if err != nil {
		return nil, err
	}
	out := &ListResult{Cases: make([]*CaseView, 0, len(cases))}
	for _, c := range cases {
		if !canSee(cl, c) { // the access table and the case agree; belt and braces
			continue
		}
		out.Cases = append(out.Cases, s.view(cl, c, today))
	}
	if len(cases) == q.Limit {
		out.Next = cases[len(cases)-1].ID
	}
	return out, nil
}

// ApplyRouting applies a routing decision once (inbox). Decisions the
// domain refuses are permanent errors: the consumer dead-letters them.
func (s *Supervision) ApplyRouting(ctx context.Context, env *eventsv1.Envelope) error {
	tracing.SetCaseID(ctx, env.GetCaseId())
	cfg := s.config()
	if env.GetCounty() != cfg.ID {
		return kafkatransport.Permanent(fmt.Errorf("event %s is for county %q, this is %q", env.GetEventId(), env.GetCounty(), cfg.ID))
	}
	if eventsv1.StreamOf(env.TypeName()) == eventsv1.StreamCases {
		return s.applyImported(ctx, env, cfg)
	}
	_, err := s.inbox.Apply(ctx, env.GetEventId(), func(tx *store.Tx) error {
		c, err := loadCase(ctx, tx, env.GetCaseId(), true)
		if err != nil {
			return err
		}
		res, err := casemachine.Route(c, env, s.env(cfg))
		if err != nil {
			var ae *apierror.Error
			if errors.As(err, &ae) {
				return kafkatransport.Permanent(fmt.Errorf("apply %s %s to case %s: %w", env.TypeName(), env.GetEventId(), env.GetCaseId(), err))
			}
			return err
		}
		if err := s.persist(ctx, tx, c, res, cfg); err != nil {
			return err
		}
		if env.GetImported() {
			return s.replayParked(ctx, tx, env.GetCaseId(), cfg)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("apply routing event: %w", err)
	}
	return nil
}

// Wake makes the timer worker look at the timers now.
func (s *Supervision) Wake() { s.wake.look() }
