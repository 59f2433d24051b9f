// Package statistics turns a county's event stream into the figures its
// petition bureau reports (docs/metrics.md), early warnings (alert.raised),
// the Art. 41 annual report, Prometheus gauges and a dashboard page.
//
// Every consumed event updates a per-case state row and, through the
// difference between the case's contributions before and after the event,
// a set of counters per day and per month. Queries read counters (and the
// open-case index for 积案), never events, so their cost does not grow with
// the history.
package statistics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"xinfang.io/county"
	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/apierror"
	"xinfang.io/services/kit/inbox"
	"xinfang.io/services/kit/kafkatransport"
	"xinfang.io/services/kit/outbox"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/tracing"
)

// Service is the statistics domain.
type Service interface {
	// Apply folds one consumed event into the case state and counters, and
	// raises the early warnings a live event triggers. Idempotent per event id.
	Apply(ctx context.Context, env *eventsv1.Envelope) error
	// Summary is every figure for a period with the year-on-year comparison.
	Summary(ctx context.Context, q PeriodQuery) (*Summary, error)
	// Breakdown is the registrations and figures of a period by one dimension.
	Breakdown(ctx context.Context, q BreakdownQuery) (*Breakdown, error)
	// Alerts lists the early warnings raised since a day.
	Alerts(ctx context.Context, q AlertsQuery) (*AlertList, error)
	// Report is the Art. 41 annual report's data section.
	Report(ctx context.Context, q ReportQuery) (*Report, error)
}

// Clock gives the service's time; tests set it.
type Clock func() time.Time

type service struct {
	db     *store.DB
	outbox *outbox.Outbox
	inbox  *inbox.Inbox
	county func() *county.Config
	now    Clock
	log    *slog.Logger
}

// New returns the statistics service. countyConfig is read once per event
// or request, so a hot-reloaded county file applies to the next one.
func New(db *store.DB, ob *outbox.Outbox, in *inbox.Inbox, countyConfig func() *county.Config, now Clock, log *slog.Logger) Service {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	return &service{db: db, outbox: ob, inbox: in, county: countyConfig, now: now, log: log}
}

func (s *service) today() county.Date { return county.DateOf(s.now()) }

func (s *service) Apply(ctx context.Context, env *eventsv1.Envelope) error {
	cfg := s.county()
	if env.GetCaseId() == "" {
		return kafkatransport.Permanent(fmt.Errorf("apply %s %s: no case id", env.GetType(), env.GetEventId()))
	}
	if env.GetCounty() != "" && env.GetCounty() != cfg.ID {
		return kafkatransport.Permanent(fmt.Errorf("apply %s %s: event of county %q in county %q", env.GetType(), env.GetEventId(), env.GetCounty(), cfg.ID))
	}
	tracing.SetCaseID(ctx, env.GetCaseId())
	_, err := s.inbox.Apply(ctx, env.GetEventId(), func(tx *store.Tx) error {
		return s.applyEvent(ctx, tx, cfg, env)
	})
	if errors.Is(err, errRefused) {
		return kafkatransport.Permanent(fmt.Errorf("apply %s to %s: %w", env.GetType(), env.GetCaseId(), err))
	}
	if err != nil {
		return fmt.Errorf("apply %s to %s: %w", env.GetType(), env.GetCaseId(), err)
	}
	return nil
}

// applyEvent is one event's whole effect, inside the inbox transaction.
// Locks are taken in one order — the event's case, then the case a
// registration repeats, then counter rows in key order — so concurrent
// replicas on PostgreSQL cannot deadlock.
func (s *service) applyEvent(ctx context.Context, tx *store.Tx, cfg *county.Config, env *eventsv1.Envelope) error {
	c, err := loadCase(ctx, tx, env.GetCaseId())
	if err != nil {
		return err
	}
	before := *c
	if err := c.apply(env); err != nil {
		return err
	}
	deltas := diff(before.contributions(), c.contributions())

	// A repeat petition takes the case it repeats out of 一次性化解.
	reg := env.GetPetitionRegistered()
	var orig *caseState
	if o := reg.GetRepeatOf(); o != "" && o != env.GetCaseId() {
		if orig, err = loadCase(ctx, tx, o); err != nil {
			return err
		}
		origBefore := *orig
		orig.HasRepeat = true
		deltas = mergeDeltas(deltas, diff(origBefore.contributions(), orig.contributions()))
	}
	// Counts of acts rather than of matters: 督办 notices.
	if a := env.GetCaseSupervisionAction(); a != nil && a.GetKind() == eventsv1.SupervisionActionKind_SUPERVISION_ACTION_KIND_DUBAN_NOTICE {
		day, err := eventDay(env, "")
		if err != nil {
			return err
		}
		extra := contributions{}
		dims := [][2]string{total}
		if a.GetDepartment() != "" {
			dims = append(dims, dim(dimDepartment, a.GetDepartment()))
		}
		extra.add(mDuban, day, 1, dims...)
		deltas = mergeDeltas(deltas, diff(nil, extra))
	}
	if err := applyDeltas(ctx, tx, deltas); err != nil {
		return err
	}
	if err := saveCase(ctx, tx, env.GetCaseId(), c); err != nil {
		return err
	}
	if orig != nil {
		if err := saveCase(ctx, tx, reg.GetRepeatOf(), orig); err != nil {
			return err
		}
	}
	if reg != nil {
		if err := recordMatters(ctx, tx, env, reg, c); err != nil {
			return err
		}
	}
	if env.GetImported() {
		return nil // history counts, but raises no alerts
	}
	w := cfg.Spec.Warnings.Effective()
	r := &raiser{s: s, tx: tx, cfg: cfg, env: env, now: s.now()}
	switch {
	case reg != nil:
		return r.onRegistered(ctx, w, c, reg)
	case before.OverdueDept != c.OverdueDept && c.OverdueDept != "":
		return r.onOverdue(ctx, w, c.OverdueDept)
	}
	return nil
}

// recordMatters records which matter each petitioner of a registration
// raised, for the repeat-petitioner warning.
func recordMatters(ctx context.Context, tx *store.Tx, env *eventsv1.Envelope, reg *eventsv1.PetitionRegistered, c *caseState) error {
	if len(reg.GetPetitionerKeys()) == 0 {
		return nil
	}
	matter, err := matterOf(ctx, tx, env.GetCaseId(), reg.GetRepeatOf())
	if err != nil {
		return err
	}
	for _, k := range reg.GetPetitionerKeys() {
		if k == "" {
			continue
		}
		if err := recordMatter(ctx, tx, k, env.GetCaseId(), matter, c.ReceivedDay); err != nil {
			return err
		}
	}
	return nil
}

func mergeDeltas(a, b []counterDelta) []counterDelta {
	m := map[counterKey]int64{}
	for _, d := range a {
		m[d.counterKey] += d.Delta
	}
	for _, d := range b {
		m[d.counterKey] += d.Delta
	}
	out := make([]counterDelta, 0, len(m))
	for k, v := range m {
		if v != 0 {
			out = append(out, counterDelta{k, v})
		}
	}
	sortDeltas(out)
	return out
}

// ---- queries ----

// PeriodQuery is a period as the API gives it: YYYY-MM-DD days in
// Asia/Shanghai, both inclusive. From defaults to 1 January of To's year,
// To to today.
type PeriodQuery struct {
	From, To string
}

// maxPeriodDays bounds a query period (a year, leap day included).
const maxPeriodDays = 366

func (s *service) period(q PeriodQuery, f apierror.Fields) (from, to county.Date) {
	to = s.today()
	if q.To != "" {
		d, err := county.ParseDate(q.To)
		if err != nil {
			f.Add("to", "must be a date YYYY-MM-DD")
		} else {
			to = d
		}
	}
	from = county.NewDate(to.Year(), time.January, 1)
	if q.From != "" {
		d, err := county.ParseDate(q.From)
		if err != nil {
			f.Add("from", "must be a date YYYY-MM-DD")
		} else {
			from = d
		}
	}
	if len(f) == 0 {
		switch {
		case to.Before(from):
			f.Add("from", "%s is after to (%s)", from, to)
		case to.Sub(from)+1 > maxPeriodDays:
			f.Add("to", "the period may be at most %d days; %s to %s is %d", maxPeriodDays, from, to, to.Sub(from)+1)
		case from.Year() < 1990 || to.Year() > 2200:
			f.Add("from", "outside the years this service keeps")
		}
	}
	return from, to
}

// yearEarlier is the same day a year earlier; 29 February becomes the 28th.
func yearEarlier(d county.Date) county.Date {
	if d.Month() == time.February && d.Day() == 29 {
		return county.NewDate(d.Year()-1, time.February, 28)
	}
	return county.NewDate(d.Year()-1, d.Month(), d.Day())
}

// Summary is every figure of a period.
type Summary struct {
	County       string `json:"county"`
	CountyName   string `json:"countyName"`
	From         string `json:"from"`
	To           string `json:"to"`
	PreviousFrom string `json:"previousFrom"`
	PreviousTo   string `json:"previousTo"`
	// Today is the service's day; due-day figures count due days up to it.
	Today             string           `json:"today"`
	Counts            map[string]Count `json:"counts"`
	Rates             map[string]Rate  `json:"rates"`
	Backlog           Backlog          `json:"backlog"`
	DivertedByChannel []Entry          `json:"divertedByChannel"`
	TopRespondents    []Entry          `json:"topRespondents"`
}

// topN is how many most-complained respondents a summary lists.
const topN = 10

func (s *service) Summary(ctx context.Context, q PeriodQuery) (*Summary, error) {
	f := apierror.Fields{}
	from, to := s.period(q, f)
	if err := f.Err(); err != nil {
		return nil, err
	}
	return s.summary(ctx, s.county(), from, to)
}

func (s *service) summary(ctx context.Context, cfg *county.Config, from, to county.Date) (*Summary, error) {
	today := s.today()
	pf, pt := yearEarlier(from), yearEarlier(to)
	cur, err := figureSums(ctx, s.db, dimTotal, from, to, today)
	if err != nil {
		return nil, err
	}
	prev, err := figureSums(ctx, s.db, dimTotal, pf, pt, today)
	if err != nil {
		return nil, err
	}
	legal, err := periodSums(ctx, s.db, dimLegalChannel, from, to)
	if err != nil {
		return nil, err
	}
	resp, err := periodSums(ctx, s.db, dimRespondent, from, to)
	if err != nil {
		return nil, err
	}
	bl, err := backlog(ctx, s.db, today)
	if err != nil {
		return nil, err
	}
	l := labeler{cfg}
	if cur[""] == nil {
		cur[""] = map[string]int64{}
	}
	if prev[""] == nil {
		prev[""] = map[string]int64{}
	}
	return &Summary{
		County: cfg.ID, CountyName: cfg.Spec.DisplayName,
		From: from.String(), To: to.String(), PreviousFrom: pf.String(), PreviousTo: pt.String(), Today: today.String(),
		Counts:            counts(cur[""], prev[""]),
		Rates:             rates(cur[""], prev[""]),
		Backlog:           buildBacklog(bl, today, l.of(dimDepartment)),
		DivertedByChannel: ranked(legal, mDiverted, 0, l.of(dimLegalChannel)),
		TopRespondents:    ranked(resp, mRegistrations, topN, l.of(dimRespondent)),
	}, nil
}

// BreakdownQuery is a period and a dimension: channel, category, township,
// department or month.
type BreakdownQuery struct {
	By string
	PeriodQuery
}

// Breakdown is a period's figures by one dimension.
type Breakdown struct {
	County string         `json:"county"`
	By     string         `json:"by"`
	From   string         `json:"from"`
	To     string         `json:"to"`
	Today  string         `json:"today"`
	Rows   []BreakdownRow `json:"rows"`
}

// BreakdownRow is one key's counts and rates. Counters kept per key are
// listed in docs/metrics.md; the rest are zero (rates null).
type BreakdownRow struct {
	Key     string           `json:"key"`
	Label   string           `json:"label"`
	Counts  map[string]int64 `json:"counts"`
	Rates   map[string]Rate  `json:"rates"`
	Backlog *int64           `json:"backlog,omitempty"`
}

// Breakdowns are the accepted values of by.
var Breakdowns = []string{"channel", "category", "township", "department", "month"}

func (s *service) Breakdown(ctx context.Context, q BreakdownQuery) (*Breakdown, error) {
	f := apierror.Fields{}
	from, to := s.period(q.PeriodQuery, f)
	switch q.By {
	case "channel", "category", "township", "department", "month":
	case "":
		f.Add("by", "required: one of %v", Breakdowns)
	default:
		f.Add("by", "must be one of %v", Breakdowns)
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	return s.breakdown(ctx, s.county(), q.By, from, to)
}

func (s *service) breakdown(ctx context.Context, cfg *county.Config, by string, from, to county.Date) (*Breakdown, error) {
	today := s.today()
	out := &Breakdown{County: cfg.ID, By: by, From: from.String(), To: to.String(), Today: today.String(), Rows: []BreakdownRow{}}
	if by == "month" {
		for m := county.NewDate(from.Year(), from.Month(), 1); !to.Before(m); m = county.NewDate(m.Year(), m.Month()+1, 1) {
			a, b := m, county.NewDate(m.Year(), m.Month()+1, 0)
			if a.Before(from) {
				a = from
			}
			if to.Before(b) {
				b = to
			}
			sum, err := figureSums(ctx, s.db, dimTotal, a, b, today)
			if err != nil {
				return nil, err
			}
			out.Rows = append(out.Rows, BreakdownRow{Key: m.String()[:7], Label: fmt.Sprintf("%d年%d月", m.Year(), int(m.Month())),
				Counts: plainCounts(sum[""]), Rates: rates(sum[""], nil)})
		}
		return out, nil
	}
	sum, err := figureSums(ctx, s.db, by, from, to, today)
	if err != nil {
		return nil, err
	}
	// Every known key appears, with zeros when it had nothing.
	var known []string
	switch by {
	case dimChannel:
		known = []string{"web", "letter", "visit", "phone", "fax"}
	case dimCategory:
		for _, c := range county.Categories {
			known = append(known, string(c))
		}
	case dimTownship:
		for _, t := range cfg.Spec.Townships {
			known = append(known, t.ID)
		}
	case dimDepartment:
		for _, d := range cfg.Spec.Departments {
			known = append(known, d.ID)
		}
	}
	for _, k := range known {
		if sum[k] == nil {
			sum[k] = map[string]int64{}
		}
	}
	var bl map[string]int64
	if by == dimDepartment {
		rows, err := backlog(ctx, s.db, today)
		if err != nil {
			return nil, err
		}
		bl = map[string]int64{}
		for _, r := range rows {
			bl[r.Department] += r.Count
			if sum[r.Department] == nil {
				sum[r.Department] = map[string]int64{}
			}
		}
	}
	l := labeler{cfg}
	for _, k := range sortedKeys(sum) {
		row := BreakdownRow{Key: k, Label: l.label(by, k), Counts: plainCounts(sum[k]), Rates: rates(sum[k], nil)}
		if bl != nil {
			n := bl[k]
			row.Backlog = &n
		}
		out.Rows = append(out.Rows, row)
	}
	order := map[string]int{}
	if by == dimChannel || by == dimCategory {
		for i, k := range known {
			order[k] = i + 1
		}
	}
	sort.SliceStable(out.Rows, func(i, j int) bool {
		a, b := out.Rows[i], out.Rows[j]
		if len(order) > 0 {
			oa, ob := order[a.Key], order[b.Key]
			if oa == 0 {
				oa = len(order) + 1
			}
			if ob == 0 {
				ob = len(order) + 1
			}
			return oa < ob
		}
		return a.Counts["registrations"] > b.Counts["registrations"]
	})
	return out, nil
}

// AlertsQuery selects alerts raised on or after Since (YYYY-MM-DD, default
// 30 days ago).
type AlertsQuery struct {
	Since string
}

// AlertList is the answer to an alerts query, newest first (at most 500).
type AlertList struct {
	Since  string  `json:"since"`
	Alerts []Alert `json:"alerts"`
}

func (s *service) Alerts(ctx context.Context, q AlertsQuery) (*AlertList, error) {
	since := s.today().AddDays(-30)
	if q.Since != "" {
		d, err := county.ParseDate(q.Since)
		if err != nil {
			return nil, apierror.Fields{"since": "must be a date YYYY-MM-DD"}.Err()
		}
		since = d
	}
	list, err := listAlerts(ctx, s.db, since.Start())
	if err != nil {
		return nil, err
	}
	l := labeler{s.county()}
	for i := range list {
		list[i].Label = l.label(list[i].Dimension, list[i].Key)
		list[i].KindLabel = alertKindLabels[list[i].Kind]
		if list[i].Dimension == "petitioner" {
			list[i].Label = "信访人 " + shortKey(list[i].Key)
		}
	}
	return &AlertList{Since: since.String(), Alerts: list}, nil
}

// shortKey abbreviates a petitioner key (an HMAC) for display.
func shortKey(k string) string {
	if len(k) > 12 {
		return k[:12] + "…"
	}
	return k
}
