package casemachine

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"xinfang.io/county"
	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/apierror"
)

// Action is something staff do to a case (POST /v1/cases/{id}/{action}).
type Action string

const (
	ActAcknowledge       Action = "acknowledge"        // 受理告知 (Art. 23)
	ActObject            Action = "object"             // 异议: not ours to handle (Art. 23)
	ActAccept            Action = "accept"             // 受理: handling starts
	ActExtend            Action = "extend"             // 延期 once, ≤ 30 days (Art. 34)
	ActReply             Action = "reply"              // 处理意见 (Art. 32)
	ActServe             Action = "serve"              // 送达, 签收
	ActEvaluate          Action = "evaluate"           // 满意度评价
	ActRequestReview     Action = "request-review"     // 复查请求 (Art. 35)
	ActDecideReview      Action = "decide-review"      // 复查意见
	ActRequestReReview   Action = "request-rereview"   // 复核请求 (Art. 36)
	ActHearing           Action = "hearing"            // 听证: days not counted (Art. 36)
	ActDecideReReview    Action = "decide-rereview"    // 复核意见: final
	ActReturn            Action = "return"             // 退回重办, by the bureau
	ActMediate           Action = "mediate"            // 调解 / 和解
	ActFlag              Action = "flag"               // 领导包案 / 联席会议
	ActAnswerSupervision Action = "answer-supervision" // written answer to 督办 (Art. 40)
	ActDecline           Action = "decline"            // 不予受理 by the handling department (Arts 19, 23, 31)
	ActWithdraw          Action = "withdraw"           // 撤回: the petitioner withdraws the matter
)

// Actions lists every action.
var Actions = []Action{ActAcknowledge, ActObject, ActAccept, ActExtend, ActReply, ActServe, ActEvaluate,
	ActRequestReview, ActDecideReview, ActRequestReReview, ActHearing, ActDecideReReview, ActReturn,
	ActMediate, ActFlag, ActAnswerSupervision, ActDecline, ActWithdraw}

// Command is one action with its parameters; each action reads the fields
// it documents and ignores the rest (the HTTP layer refuses fields that do
// not belong to an action).
type Command struct {
	Action Action
	Actor  *eventsv1.Actor
	// At is when the act happened, accepted only for imported history; the
	// zero value means Env.Now.
	At     time.Time
	Reason string

	NotifiedOn         county.Date // acknowledge (default: the day of the act)
	Days               int         // extend, return
	PetitionerNotified bool        // extend: Art. 34 requires it
	Outcome            string      // reply: supported|explained|not-supported; decide-*: upheld|revoked|changed
	Opinion            string      // reply, decide-*
	Method             string      // serve: in-person|post|electronic|public-notice
	ServedOn           county.Date // serve: 签收 date (default: the day of the act)
	Target             string      // evaluate: bureau|handling-unit
	Rating             string      // evaluate: satisfied|basically-satisfied|dissatisfied
	ReviewingBody      string      // request-review, request-rereview
	From, To           county.Date // hearing: first and last day of the hearing
	MediationKind      string      // mediate: mediation|settlement
	AgreementReached   bool        // mediate
	Summary            string      // mediate
	Flag               string      // flag: leader-owned|joint-meeting
	Set                bool        // flag: set (true) or clear
	Owner              string      // flag: the responsible leader's post
	ActionEventID      string      // answer-supervision: the notice's event id
	Answer             string      // answer-supervision
	NotAcceptedReason  string      // decline: legal-channel|within-time-limit|final|out-of-scope
	Article            string      // decline: the article cited (default: the reason's)
	LegalChannel       string      // decline (legal-channel): litigation|arbitration|…
	Guidance           string      // decline: what the petitioner is told to do instead
	LinkedCaseID       string      // decline (within-time-limit, final): the case it repeats
}

// Note is a history entry that is not published as an event (the contract
// has no event for it). No transition makes one today: hearings, the only
// notes so far, are case.hearing_held events now; histories written before
// keep their "note.hearing" entries.
type Note struct {
	Type   string          `json:"type"`
	At     time.Time       `json:"occurredAt"`
	Actor  *eventsv1.Actor `json:"-"`
	Reason string          `json:"reason,omitempty"`
	Detail map[string]any  `json:"detail,omitempty"`
}

// Result is the outcome of a transition. The caller stores Case, appends
// Received, then Events, then Notes to the case history, and publishes
// Events, all in one transaction.
type Result struct {
	Case     *Case
	Received *eventsv1.Envelope
	Events   []*eventsv1.Envelope
	Notes    []Note
	// Ignored: nothing changed (a stale or repeated input).
	Ignored bool
}

// Value sets the contract's enums accept, by their API names.
var (
	ReplyOutcomes = map[string]eventsv1.ReplyOutcome{
		"supported":     eventsv1.ReplyOutcome_REPLY_OUTCOME_SUPPORTED,
		"explained":     eventsv1.ReplyOutcome_REPLY_OUTCOME_EXPLAINED,
		"not-supported": eventsv1.ReplyOutcome_REPLY_OUTCOME_NOT_SUPPORTED,
	}
	ServiceMethods = map[string]eventsv1.ServiceMethod{
		"in-person":     eventsv1.ServiceMethod_SERVICE_METHOD_IN_PERSON,
		"post":          eventsv1.ServiceMethod_SERVICE_METHOD_POST,
		"electronic":    eventsv1.ServiceMethod_SERVICE_METHOD_ELECTRONIC,
		"public-notice": eventsv1.ServiceMethod_SERVICE_METHOD_PUBLIC_NOTICE,
	}
	EvaluationTargets = map[string]eventsv1.EvaluationTarget{
		TargetBureau:       eventsv1.EvaluationTarget_EVALUATION_TARGET_BUREAU,
		TargetHandlingUnit: eventsv1.EvaluationTarget_EVALUATION_TARGET_HANDLING_UNIT,
	}
	Ratings = map[string]eventsv1.Rating{
		"satisfied":           eventsv1.Rating_RATING_SATISFIED,
		"basically-satisfied": eventsv1.Rating_RATING_BASICALLY,
		"dissatisfied":        eventsv1.Rating_RATING_DISSATISFIED,
	}
	ReviewOutcomes = map[string]eventsv1.ReviewOutcome{
		"upheld":  eventsv1.ReviewOutcome_REVIEW_OUTCOME_UPHELD,
		"revoked": eventsv1.ReviewOutcome_REVIEW_OUTCOME_REVOKED,
		"changed": eventsv1.ReviewOutcome_REVIEW_OUTCOME_CHANGED,
	}
	MediationKinds = map[string]eventsv1.MediationKind{
		"mediation":  eventsv1.MediationKind_MEDIATION_KIND_MEDIATION,
		"settlement": eventsv1.MediationKind_MEDIATION_KIND_SETTLEMENT,
	}
	Flags = map[string]eventsv1.CaseFlag{
		"leader-owned":  eventsv1.CaseFlag_CASE_FLAG_LEADER_OWNED,
		"joint-meeting": eventsv1.CaseFlag_CASE_FLAG_JOINT_MEETING,
	}
	NotAcceptedReasons = map[string]eventsv1.NotAcceptedReason{
		"legal-channel":     eventsv1.NotAcceptedReason_NOT_ACCEPTED_REASON_LEGAL_CHANNEL,
		"within-time-limit": eventsv1.NotAcceptedReason_NOT_ACCEPTED_REASON_WITHIN_TIME_LIMIT,
		"final":             eventsv1.NotAcceptedReason_NOT_ACCEPTED_REASON_FINAL,
		"out-of-scope":      eventsv1.NotAcceptedReason_NOT_ACCEPTED_REASON_OUT_OF_SCOPE,
	}
	LegalChannels = map[string]eventsv1.LegalChannel{
		"litigation":                     eventsv1.LegalChannel_LEGAL_CHANNEL_LITIGATION,
		"arbitration":                    eventsv1.LegalChannel_LEGAL_CHANNEL_ARBITRATION,
		"party-discipline":               eventsv1.LegalChannel_LEGAL_CHANNEL_PARTY_DISCIPLINE,
		"administrative-reconsideration": eventsv1.LegalChannel_LEGAL_CHANNEL_ADMINISTRATIVE_RECONSIDERATION,
		"administrative-ruling":          eventsv1.LegalChannel_LEGAL_CHANNEL_ADMINISTRATIVE_RULING,
		"administrative-confirmation":    eventsv1.LegalChannel_LEGAL_CHANNEL_ADMINISTRATIVE_CONFIRMATION,
		"administrative-licensing":       eventsv1.LegalChannel_LEGAL_CHANNEL_ADMINISTRATIVE_LICENSING,
		"administrative-penalty":         eventsv1.LegalChannel_LEGAL_CHANNEL_ADMINISTRATIVE_PENALTY,
		"other-legal":                    eventsv1.LegalChannel_LEGAL_CHANNEL_OTHER_LEGAL,
	}
)

// declineArticles are the articles a department's 不予受理 cites by default
// (the same as routing's for the reasons both use).
var declineArticles = map[string]string{
	"legal-channel":     "31",
	"within-time-limit": "19(3)",
	"final":             "36(3)",
	"out-of-scope":      "19",
}

// Evaluation targets and the rating recorded when the window lapses.
const (
	TargetBureau       = "bureau"
	TargetHandlingUnit = "handling-unit"
	RatingLapsed       = "lapsed" // 超期未评价
)

// Close reasons. CloseDeclined is published as CLOSE_REASON_ROUTED_OUT: like
// routing's not-accepted decision, the matter is not handled here.
const (
	CloseWindowLapsed = "window-lapsed" // a request window ended before the case ran its course
	CloseCompleted    = "completed"     // served, evaluated, and the review window ended unused
	CloseMediated     = "mediated"
	CloseRoutedOut    = "routed-out"
	CloseDeclined     = "declined" // the department's 不予受理
	CloseWithdrawn    = "withdrawn"
)

// Text limits (characters).
const (
	maxReason  = 2000
	maxText    = 20000
	maxSummary = 5000
	maxName    = 64
)

var defaultReasons = map[Action]string{
	ActAcknowledge: "受理告知", ActObject: "异议", ActAccept: "受理", ActExtend: "延期",
	ActReply: "出具处理意见", ActServe: "送达处理意见", ActEvaluate: "满意度评价",
	ActRequestReview: "请求复查", ActDecideReview: "出具复查意见", ActRequestReReview: "请求复核",
	ActHearing: "听证", ActDecideReReview: "出具复核意见", ActReturn: "退回重办", ActMediate: "调解",
	ActFlag: "标记", ActAnswerSupervision: "书面回复督办", ActDecline: "不予受理", ActWithdraw: "信访人撤回",
}

// Allowed lists the actions the case's state allows, in lifecycle order.
func Allowed(c *Case) []Action {
	var out []Action
	switch c.State {
	case StateAssigned:
		out = []Action{ActAcknowledge, ActObject, ActDecline}
	case StateAcknowledged:
		out = []Action{ActAccept}
	case StateAccepted:
		if !c.Extended {
			out = append(out, ActExtend)
		}
		out = append(out, ActReply, ActMediate)
	case StateExtended:
		out = []Action{ActReply, ActMediate}
	case StateReplied:
		out = []Action{ActServe, ActReturn}
	case StateServed, StateEvaluated:
		if c.State == StateServed {
			out = append(out, ActEvaluate)
		}
		if c.Category == county.CategoryComplaint {
			out = append(out, ActRequestReview)
		}
		out = append(out, ActReturn)
	case StateReviewRequested:
		out = []Action{ActDecideReview}
	case StateReviewDecided:
		out = []Action{ActRequestReReview}
	case StateReReviewRequested:
		out = []Action{ActHearing, ActDecideReReview}
	}
	if !c.State.Terminal() && c.State != StateObjected {
		// Withdrawal ends the matter wherever it stands, except while routing
		// has it back after an objection: routing's re-assignment comes next.
		out = append(out, ActWithdraw)
	}
	if !c.State.Terminal() {
		out = append(out, ActFlag)
	}
	for _, n := range c.Notices {
		if n.AnsweredOn.IsZero() {
			out = append(out, ActAnswerSupervision)
			break
		}
	}
	return out
}

// IllegalTransition is the error for an action the state does not allow:
// it names the state and the allowed actions (also in Details).
func IllegalTransition(c *Case, a Action, why string) *apierror.Error {
	allowed := Allowed(c)
	names := make([]string, len(allowed))
	for i, x := range allowed {
		names[i] = string(x)
	}
	msg := fmt.Sprintf("case %s is %s: %s is not allowed", c.ID, c.State, a)
	if why != "" {
		msg += " (" + why + ")"
	}
	if len(names) > 0 {
		msg += "; allowed: " + strings.Join(names, ", ")
	} else {
		msg += "; no action is allowed"
	}
	return &apierror.Error{Kind: apierror.IllegalTransition, Message: msg,
		Details: map[string]any{"state": string(c.State), "action": string(a), "allowed": names}}
}

// machine carries one transition.
type machine struct {
	c        *Case
	env      Env
	cfg      *county.Config
	cmd      Command
	at       time.Time
	today    county.Date
	imported bool
	res      *Result
}

// Act applies a staff action to c and returns the transition. c is not
// modified. Errors are *apierror.Error: Validation (with field paths),
// IllegalTransition (naming the state and the allowed actions), Conflict.
func Act(c *Case, cmd Command, env Env) (*Result, error) {
	if !slices.Contains(Actions, cmd.Action) {
		return nil, apierror.New(apierror.NotFound, "unknown action %q", cmd.Action)
	}
	m := &machine{c: c.Clone(), env: env, cfg: env.Config, cmd: cmd, at: env.Now}
	m.res = &Result{Case: m.c}
	if !cmd.At.IsZero() {
		f := apierror.Fields{}
		switch {
		case !c.Imported:
			f.Add("at", "an explicit time is accepted only for imported history; this case was not imported")
		case cmd.At.After(env.Now):
			f.Add("at", "is in the future")
		case cmd.At.Before(c.LastAt):
			f.Add("at", "is before the case's latest history entry (%s)", c.LastAt.Format(time.RFC3339))
		}
		if err := f.Err(); err != nil {
			return nil, err
		}
		m.at, m.imported = cmd.At, true
	}
	m.today = county.DateOf(m.at)
	if !slices.Contains(Allowed(c), cmd.Action) {
		return nil, IllegalTransition(c, cmd.Action, "")
	}
	if utf8.RuneCountInString(cmd.Reason) > maxReason {
		return nil, apierror.Fields{"reason": fmt.Sprintf("at most %d characters", maxReason)}.Err()
	}
	var err error
	switch cmd.Action {
	case ActAcknowledge:
		err = m.acknowledge()
	case ActObject:
		err = m.object()
	case ActAccept:
		err = m.accept()
	case ActExtend:
		err = m.extend()
	case ActReply:
		err = m.reply()
	case ActServe:
		err = m.serve()
	case ActEvaluate:
		err = m.evaluate()
	case ActRequestReview:
		err = m.requestReview()
	case ActDecideReview:
		err = m.decideReview()
	case ActRequestReReview:
		err = m.requestReReview()
	case ActHearing:
		err = m.hearing()
	case ActDecideReReview:
		err = m.decideReReview()
	case ActReturn:
		err = m.returnForRework()
	case ActMediate:
		err = m.mediate()
	case ActFlag:
		err = m.flag()
	case ActAnswerSupervision:
		err = m.answerSupervision()
	case ActDecline:
		err = m.decline()
	case ActWithdraw:
		err = m.withdraw()
	}
	if err != nil {
		return nil, err
	}
	if m.at.After(m.c.LastAt) {
		m.c.LastAt = m.at
	}
	return m.res, nil
}

func (m *machine) reason() string {
	if r := strings.TrimSpace(m.cmd.Reason); r != "" {
		return r
	}
	return defaultReasons[m.cmd.Action]
}

// emit adds an event of the transition.
func (m *machine) emit(payload proto.Message) *eventsv1.Envelope {
	env := newEnvelope(m.c, m.env, payload)
	env.OccurredAt = timestamppb.New(m.at)
	env.Actor = m.cmd.Actor
	env.Imported = m.imported
	env.Reason = m.reason()
	m.res.Events = append(m.res.Events, env)
	return env
}

func newEnvelope(c *Case, env Env, payload proto.Message) *eventsv1.Envelope {
	e := &eventsv1.Envelope{
		EventId:       env.NewID(),
		County:        c.County,
		CaseId:        c.ID,
		RecordedAt:    timestamppb.New(env.Now),
		SchemaVersion: eventsv1.SchemaVersion,
	}
	if err := e.SetPayload(payload); err != nil {
		panic(err) // every payload here is a contract message
	}
	return e
}

// text validates a free-text field.
func text(f apierror.Fields, path, s string, required bool, max int) string {
	s = strings.TrimSpace(s)
	switch {
	case required && s == "":
		f.Add(path, "required")
	case utf8.RuneCountInString(s) > max:
		f.Add(path, "at most %d characters", max)
	}
	return s
}

func keys[V any](m map[string]V) string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

func oneOf[V any](f apierror.Fields, path, s string, m map[string]V) V {
	v, ok := m[s]
	if !ok {
		if s == "" {
			f.Add(path, "required: one of %s", keys(m))
		} else {
			f.Add(path, "%q is not one of %s", s, keys(m))
		}
	}
	return v
}

// date checks an optional date parameter: not after the day of the act,
// not before floor; zero means the day of the act.
func (m *machine) date(f apierror.Fields, path string, d, floor county.Date, floorName string) county.Date {
	if d.IsZero() {
		return m.today
	}
	if d.After(m.today) {
		f.Add(path, "%s is after the day of the act (%s)", d, m.today)
	}
	if !floor.IsZero() && d.Before(floor) {
		f.Add(path, "%s is before %s (%s)", d, floorName, floor)
	}
	return d
}

func (m *machine) acknowledge() error {
	f := apierror.Fields{}
	on := m.date(f, "notifiedOn", m.cmd.NotifiedOn, m.c.AssignedOn, "the assignment")
	if err := f.Err(); err != nil {
		return err
	}
	m.c.stopClocks(ClockMet, on, ClockAcknowledge)
	m.c.stopClocks(ClockStopped, m.today, ClockObjection)
	m.c.State = StateAcknowledged
	m.emit(&eventsv1.CaseAcknowledged{Department: m.c.Department, NotifiedOn: on.String()})
	return nil
}

func (m *machine) object() error {
	f := apierror.Fields{}
	text(f, "reason", m.cmd.Reason, true, maxReason)
	if err := f.Err(); err != nil {
		return err
	}
	obj := m.c.Running(ClockObjection)
	within := obj != nil && !m.today.After(obj.Due)
	m.emit(&eventsv1.CaseObjected{Department: m.c.Department, WithinWindow: within})
	if within {
		// Routing takes the case back; a new case.assigned follows.
		m.c.stopClocks(ClockMet, m.today, ClockObjection)
		m.c.stopClocks(ClockStopped, m.today)
		m.c.State = StateObjected
	}
	// Late: recorded, not honoured (the case stays with the department).
	return nil
}

func (m *machine) accept() error {
	cl := m.c.startClock(m.cfg, ClockHandling, m.today, m.cfg.Deadlines.HandlingDaysFor(m.c.Category))
	m.c.State = StateAccepted
	m.emit(&eventsv1.CaseAccepted{Department: m.c.Department, Category: categoryProto(m.c.Category),
		Clock: eventsv1.Clock_CLOCK_HANDLING, HandlingDue: cl.Due.String()})
	return nil
}

func (m *machine) extend() error {
	f := apierror.Fields{}
	maxDays := m.cfg.Deadlines.ExtensionDays
	if m.cmd.Days < 1 || m.cmd.Days > maxDays {
		f.Add("days", "must be 1 to %d (Art. 34 and the county's limit)", maxDays)
	}
	text(f, "reason", m.cmd.Reason, true, maxReason)
	if !m.cmd.PetitionerNotified {
		f.Add("petitionerNotified", "the petitioner must be told of the extension and its reason (Art. 34)")
	}
	if err := f.Err(); err != nil {
		return err
	}
	cl := m.c.Running(ClockHandling)
	if m.today.After(cl.Due) {
		return IllegalTransition(m.c, ActExtend, fmt.Sprintf("the handling period ended on %s; an extension must be granted before it ends", cl.Due))
	}
	cl.ExtendedDays = m.cmd.Days
	cl.recompute(m.cfg)
	m.c.Extended = true
	m.c.ExtensionReason, m.c.ExtendedOn = strings.TrimSpace(m.cmd.Reason), m.today
	m.c.State = StateExtended
	m.emit(&eventsv1.CaseExtended{Department: m.c.Department, Days: uint32(m.cmd.Days), NewDue: cl.Due.String(), PetitionerNotified: true})
	return nil
}

func (m *machine) reply() error {
	f := apierror.Fields{}
	outcome := oneOf(f, "outcome", m.cmd.Outcome, ReplyOutcomes)
	opinion := text(f, "opinion", m.cmd.Opinion, true, maxText)
	if err := f.Err(); err != nil {
		return err
	}
	m.c.stopClocks(ClockMet, m.today, ClockHandling)
	m.c.Reply = &Reply{Outcome: m.cmd.Outcome, Opinion: opinion, RepliedOn: m.today}
	m.c.State = StateReplied
	m.emit(&eventsv1.CaseReplied{Department: m.c.Department, Outcome: outcome, Opinion: opinion, RepliedOn: m.today.String()})
	return nil
}

func (m *machine) serve() error {
	f := apierror.Fields{}
	method := oneOf(f, "method", m.cmd.Method, ServiceMethods)
	on := m.date(f, "servedOn", m.cmd.ServedOn, m.c.Reply.RepliedOn, "the reply")
	if err := f.Err(); err != nil {
		return err
	}
	m.c.Service = &Service{Method: m.cmd.Method, ServedOn: on}
	rr := m.c.startClock(m.cfg, ClockReviewRequest, on, m.cfg.Deadlines.ReviewRequestDays)
	m.c.startClock(m.cfg, ClockEvaluation, on, m.cfg.Deadlines.EvaluationDays)
	m.c.Ratings = nil
	m.c.State = StateServed
	m.emit(&eventsv1.CaseServed{Method: method, ServedOn: on.String(), ReviewRequestDue: rr.Due.String()})
	return nil
}

func (m *machine) evaluate() error {
	f := apierror.Fields{}
	target := oneOf(f, "target", m.cmd.Target, EvaluationTargets)
	rating := oneOf(f, "rating", m.cmd.Rating, Ratings)
	if err := f.Err(); err != nil {
		return err
	}
	if r, ok := m.c.Ratings[m.cmd.Target]; ok {
		return apierror.New(apierror.Conflict, "the %s was already rated (%s)", m.cmd.Target, r)
	}
	if m.c.Ratings == nil {
		m.c.Ratings = map[string]string{}
	}
	m.c.Ratings[m.cmd.Target] = m.cmd.Rating
	m.emit(&eventsv1.CaseEvaluated{Target: target, Rating: rating, Department: ratedDepartment(m.c, m.cfg, m.cmd.Target)})
	if len(m.c.Ratings) == len(EvaluationTargets) {
		m.c.stopClocks(ClockMet, m.today, ClockEvaluation)
		m.c.State = StateEvaluated
	}
	return nil
}

// ratedDepartment is the department a rating is about: the handling unit,
// or the county's bureau.
func ratedDepartment(c *Case, cfg *county.Config, target string) string {
	if target == TargetHandlingUnit {
		return c.Department
	}
	for _, d := range cfg.Spec.Departments {
		if d.Kind == county.KindBureau {
			return d.ID
		}
	}
	return cfg.Spec.DefaultDepartment
}
