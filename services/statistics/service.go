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
	"fmt"
	"log/slog"
	"sort"
	"sync/atomic"
	"time"

	"xinfang.io/county"
	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/apierror"
	"xinfang.io/services/kit/outbox"
	"xinfang.io/services/kit/store"
)

// Service is the statistics domain.
type Service interface {
	// Apply folds one consumed event into the case state and counters, and
	// raises the early warnings a live event triggers. Idempotent per event id.
	Apply(ctx context.Context, env *eventsv1.Envelope) error
	// ApplyBatch applies a run of events in one transaction, all or
	// nothing; idempotent per event id like Apply.
	ApplyBatch(ctx context.Context, events []Event) error
	// Summary is every figure for a period with the year-on-year
	// comparison, for the county or one department.
	Summary(ctx context.Context, q SummaryQuery) (*Summary, error)
	// Breakdown is the figures of a period by one dimension, each key with
	// the same period a year earlier.
	Breakdown(ctx context.Context, q BreakdownQuery) (*Breakdown, error)
	// Alerts lists the early warnings raised since a day.
	Alerts(ctx context.Context, q AlertsQuery) (*AlertList, error)
	// Report is the Art. 41 annual report's data section.
	Report(ctx context.Context, q ReportQuery) (*Report, error)
}

// Clock gives the service's time; tests set it.
type Clock func() time.Time

// Options are the parts of the service besides its database.
type Options struct {
	Outbox *outbox.Outbox
	// County is read once per batch or request, so a hot-reloaded county
	// file applies to the next one.
	County func() *county.Config
	Now    Clock
	Log    *slog.Logger
	// LegacyInbox is the consumer name under which versions before batching
	// recorded applied events in the kit's inbox table; events found there
	// are not applied again. Empty: no such records.
	LegacyInbox string
}

type service struct {
	db          *store.DB
	outbox      *outbox.Outbox
	county      func() *county.Config
	now         Clock
	log         *slog.Logger
	legacyInbox string
	legacyState atomic.Int32
	// applied and duplicates count events since the process started.
	applied, duplicates atomic.Int64
	raised              raisedAlerts
}

// New returns the statistics service.
func New(db *store.DB, o Options) Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &service{db: db, outbox: o.Outbox, county: o.County, now: o.Now, log: o.Log, legacyInbox: o.LegacyInbox}
}

func (s *service) today() county.Date { return county.DateOf(s.now()) }

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

// SummaryQuery is a summary's period, the day its backlog is given as of,
// and an optional department.
type SummaryQuery struct {
	PeriodQuery
	// AsOf is the day 积案 is counted as of (YYYY-MM-DD, not after today);
	// default the period's end, or today when that is earlier.
	AsOf string
	// Department scopes every figure to the matters the department handles
	// (docs/metrics.md); "" is the whole county.
	Department string
}

// Summary is every figure of a period.
type Summary struct {
	County     string `json:"county"`
	CountyName string `json:"countyName"`
	// Department and its name when the summary is one department's.
	Department     string `json:"department,omitempty"`
	DepartmentName string `json:"departmentName,omitempty"`
	From           string `json:"from"`
	To             string `json:"to"`
	PreviousFrom   string `json:"previousFrom"`
	PreviousTo     string `json:"previousTo"`
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

func (s *service) Summary(ctx context.Context, q SummaryQuery) (*Summary, error) {
	f := apierror.Fields{}
	cfg := s.county()
	from, to := s.period(q.PeriodQuery, f)
	asOf := s.asOf(q.AsOf, to, f)
	if q.Department != "" {
		if _, ok := cfg.Department(q.Department); !ok {
			f.Add("department", "no department %q in this county", q.Department)
		}
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	return s.summary(ctx, cfg, from, to, asOf, q.Department)
}

// asOf is the day the backlog is counted as of: the given day (not after
// today), else the period's end or today, whichever is earlier.
func (s *service) asOf(given string, to county.Date, f apierror.Fields) county.Date {
	today := s.today()
	if given == "" {
		if today.Before(to) {
			return today
		}
		return to
	}
	d, err := county.ParseDate(given)
	switch {
	case err != nil:
		f.Add("asOf", "must be a date YYYY-MM-DD")
	case today.Before(d):
		f.Add("asOf", "%s is after today (%s): the backlog is known up to today", d, today)
	case d.Year() < 1990:
		f.Add("asOf", "outside the years this service keeps")
	}
	return d
}

func (s *service) summary(ctx context.Context, cfg *county.Config, from, to, asOf county.Date, dept string) (*Summary, error) {
	today := s.today()
	pf, pt := yearEarlier(from), yearEarlier(to)
	sc := oneKey(dimTotal, "")
	if dept != "" {
		sc = oneKey(dimDepartment, dept)
	}
	first, err := firstYear(ctx, s.db)
	if err != nil {
		return nil, err
	}
	// The period, the year before it and the 积案 levels are one query.
	r := newPeriodReads(today)
	iCur, iPrev, iLevels := r.figures(from, to), r.figures(pf, pt), r.levels(first, asOf)
	scoped, err := r.sums(ctx, s.db, sc)
	if err != nil {
		return nil, err
	}
	cur, prev, levels := scoped[iCur], scoped[iPrev], scoped[iLevels]
	l := labeler{cfg}
	out := &Summary{
		County: cfg.ID, CountyName: cfg.Spec.DisplayName,
		From: from.String(), To: to.String(), PreviousFrom: pf.String(), PreviousTo: pt.String(), Today: today.String(),
		Counts:            counts(cur, prev),
		Rates:             rates(cur, prev),
		DivertedByChannel: []Entry{},
		TopRespondents:    []Entry{},
	}
	if dept != "" {
		// Routed-out matters have no department, and respondents are not
		// kept per department: those lists belong to the county summary.
		out.Department, out.DepartmentName = dept, l.label(dimDepartment, dept)
		out.Backlog = buildBacklog(levels, sums{dept: levels}, asOf, l.of(dimDepartment))
		return out, nil
	}
	byDept, err := levelSums(ctx, s.db, allKeys(dimDepartment), first, asOf)
	if err != nil {
		return nil, err
	}
	lists, err := dimSums(ctx, s.db, []string{dimLegalChannel, dimRespondent}, periodKeys(from, to))
	if err != nil {
		return nil, err
	}
	out.Backlog = buildBacklog(levels, byDept, asOf, l.of(dimDepartment))
	out.DivertedByChannel = ranked(lists[dimLegalChannel], mDiverted, 0, l.of(dimLegalChannel))
	out.TopRespondents = ranked(lists[dimRespondent], mRegistrations, topN, l.of(dimRespondent))
	return out, nil
}

// BreakdownQuery is a period and a dimension: channel, category, township,
// department or month.
type BreakdownQuery struct {
	By string
	PeriodQuery
}

// Breakdown is a period's figures by one dimension, each key compared with
// the same dates a year earlier.
type Breakdown struct {
	County       string `json:"county"`
	By           string `json:"by"`
	From         string `json:"from"`
	To           string `json:"to"`
	PreviousFrom string `json:"previousFrom"`
	PreviousTo   string `json:"previousTo"`
	Today        string `json:"today"`
	// BacklogAsOf is the day the department rows' backlog is counted as of
	// (the period's end, or today when that is earlier).
	BacklogAsOf string         `json:"backlogAsOf,omitempty"`
	Rows        []BreakdownRow `json:"rows"`
}

// BreakdownRow is one key's counts and rates, with the same key's counts
// a year earlier (for a month: the same month of the year before) and the
// change. Counters kept per key are listed in docs/metrics.md; the rest
// are zero (rates null).
type BreakdownRow struct {
	Key      string           `json:"key"`
	Label    string           `json:"label"`
	Counts   map[string]int64 `json:"counts"`
	Previous map[string]int64 `json:"previous"`
	// ChangePercent per count id: (count − previous) / previous × 100, two
	// decimals, null when previous is 0.
	ChangePercent map[string]*float64 `json:"changePercent"`
	// Rates carry previousPercent, the same rate a year earlier.
	Rates   map[string]Rate `json:"rates"`
	Backlog *int64          `json:"backlog,omitempty"`
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

func breakdownRow(key, label string, cur, prev *vec) BreakdownRow {
	row := BreakdownRow{Key: key, Label: label, Counts: plainCounts(cur), Previous: plainCounts(prev),
		ChangePercent: make(map[string]*float64, len(countDefs)), Rates: rates(cur, prev)}
	for _, d := range countDefs {
		row.ChangePercent[d.ID] = change(cur[d.Metric], prev[d.Metric])
	}
	return row
}

func (s *service) breakdown(ctx context.Context, cfg *county.Config, by string, from, to county.Date) (*Breakdown, error) {
	today := s.today()
	pf, pt := yearEarlier(from), yearEarlier(to)
	out := &Breakdown{County: cfg.ID, By: by, From: from.String(), To: to.String(), PreviousFrom: pf.String(),
		PreviousTo: pt.String(), Today: today.String(), Rows: []BreakdownRow{}}
	if by == "month" {
		// Each month and the same month a year earlier, in one query.
		ms := months(from, to)
		r := newPeriodReads(today)
		for _, m := range ms {
			r.figures(m[0], m[1])
			r.figures(yearEarlier(m[0]), yearEarlier(m[1]))
		}
		both, err := r.sums(ctx, s.db, oneKey(dimTotal, ""))
		if err != nil {
			return nil, err
		}
		cur, prev := make([]*vec, len(ms)), make([]*vec, len(ms))
		for i := range ms {
			cur[i], prev[i] = both[2*i], both[2*i+1]
		}
		for i, m := range ms {
			out.Rows = append(out.Rows, breakdownRow(m[0].String()[:7], fmt.Sprintf("%d年%d月", m[0].Year(), int(m[0].Month())), cur[i], prev[i]))
		}
		return out, nil
	}
	// The period, a year earlier and, by department, the 积案 levels: in
	// one query on PostgreSQL (keyedReads).
	r := newKeyedReads(by)
	iCur, iPrev, iLevels := r.figures(from, to, today), r.figures(pf, pt, today), -1
	if by == dimDepartment {
		asOf := s.asOf("", to, nil) // the summary's default: to, or today if sooner
		out.BacklogAsOf = asOf.String()
		first, err := firstYear(ctx, s.db)
		if err != nil {
			return nil, err
		}
		iLevels = r.levels(first, asOf)
	}
	read, err := r.sums(ctx, s.db)
	if err != nil {
		return nil, err
	}
	cur, prev := read[iCur], read[iPrev]
	// Every known key appears, with zeros when it had nothing; so does a
	// key that had something only a year earlier.
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
		cur.at(k)
	}
	for k := range prev {
		cur.at(k)
	}
	var levels sums
	if iLevels >= 0 {
		levels = read[iLevels]
		for k, v := range levels {
			if v[mBacklog] != 0 {
				cur.at(k)
			}
		}
	}
	l := labeler{cfg}
	for _, k := range sortedKeys(cur) {
		row := breakdownRow(k, l.label(by, k), cur[k], prev.of(k))
		if levels != nil {
			n := levels.of(k)[mBacklog]
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
