package statistics

import (
	"context"
	"math"
	"strconv"
	"strings"
	"time"

	"xinfang.io/county"
	"xinfang.io/services/kit/apierror"
)

// ReportQuery selects the report's year (YYYY) and format (json, markdown
// or html; the transport renders).
type ReportQuery struct {
	Year   string
	Format string
}

// ReportFormats are the accepted report formats.
var ReportFormats = []string{"json", "markdown", "html"}

// Report is the data section of a county bureau's annual report (信访工作
// 条例 Art. 41): volumes with the year-on-year change, channels, categories,
// the main fields (by lead department), the most-complained bodies,
// 转送/交办/督办 counts, the quality rates, review figures and the backlog.
type Report struct {
	County     string `json:"county"`
	CountyName string `json:"countyName"`
	Year       int    `json:"year"`
	// Complete is false for the running year: the report then covers
	// 1 January to today and compares with the same dates a year earlier.
	Complete       bool     `json:"complete"`
	Summary        *Summary `json:"summary"`
	Channels       []Share  `json:"channels"`
	Categories     []Share  `json:"categories"`
	Townships      []Share  `json:"townships"`
	Fields         []Share  `json:"fields"`
	MostComplained []Share  `json:"mostComplained"`
	Months         []Entry  `json:"months"`
	GeneratedAt    string   `json:"generatedAt"`
}

// Share is a key's registrations and its share of the total.
type Share struct {
	Key     string   `json:"key"`
	Label   string   `json:"label"`
	Value   int64    `json:"value"`
	Percent *float64 `json:"percent"`
}

func (s *service) Report(ctx context.Context, q ReportQuery) (*Report, error) {
	f := apierror.Fields{}
	year, err := strconv.Atoi(q.Year)
	today := s.today()
	switch {
	case q.Year == "":
		f.Add("year", "required: the report's year, YYYY")
	case err != nil || len(q.Year) != 4:
		f.Add("year", "must be a year YYYY")
	case year < 1990 || year > today.Year():
		f.Add("year", "must be between 1990 and %d", today.Year())
	}
	switch q.Format {
	case "", "json", "markdown", "html":
	default:
		f.Add("format", "must be one of %v", ReportFormats)
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	cfg := s.county()
	from, to := county.NewDate(year, time.January, 1), county.NewDate(year, time.December, 31)
	complete := today.After(to)
	if !complete {
		to = today
	}
	// 积案 as of the end of the period: 31 December, or today.
	sum, err := s.summary(ctx, cfg, from, to, to, "")
	if err != nil {
		return nil, err
	}
	r := &Report{County: cfg.ID, CountyName: cfg.Spec.DisplayName, Year: year, Complete: complete, Summary: sum,
		GeneratedAt: s.now().In(county.Shanghai).Format("2006-01-02 15:04")}
	totalRegs := sum.Counts["registrations"].Value
	shares := func(by string, limit int) ([]Share, error) {
		b, err := s.breakdown(ctx, cfg, by, from, to)
		if err != nil {
			return nil, err
		}
		out := []Share{}
		for _, row := range b.Rows {
			v := row.Counts["registrations"]
			if v == 0 && by != dimChannel && by != dimCategory {
				continue
			}
			out = append(out, Share{Key: row.Key, Label: row.Label, Value: v, Percent: percent(v, totalRegs)})
		}
		if limit > 0 && len(out) > limit {
			out = out[:limit]
		}
		return out, nil
	}
	if r.Channels, err = shares(dimChannel, 0); err != nil {
		return nil, err
	}
	if r.Categories, err = shares(dimCategory, 0); err != nil {
		return nil, err
	}
	if r.Townships, err = shares(dimTownship, topN); err != nil {
		return nil, err
	}
	if r.Fields, err = shares(dimDepartment, topN); err != nil {
		return nil, err
	}
	for _, e := range sum.TopRespondents {
		r.MostComplained = append(r.MostComplained, Share{Key: e.Key, Label: e.Label, Value: e.Value, Percent: percent(e.Value, totalRegs)})
	}
	if r.MostComplained == nil {
		r.MostComplained = []Share{}
	}
	months, err := s.breakdown(ctx, cfg, "month", from, to)
	if err != nil {
		return nil, err
	}
	for _, row := range months.Rows {
		r.Months = append(r.Months, Entry{Key: row.Key, Label: row.Label, Value: row.Counts["registrations"]})
	}
	return r, nil
}

// ---- rendering ----

// groupDigits writes n with thousands separators: 2026 → "2,026".
func groupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func fmtPct(p *float64) string {
	if p == nil {
		return "—"
	}
	return strconv.FormatFloat(*p, 'f', 2, 64) + "%"
}

// yoyText says the change in words: 同比下降9.15%.
func yoyText(p *float64) string {
	switch {
	case p == nil:
		return "上年同期无数据"
	case *p > 0:
		return "同比增长" + strconv.FormatFloat(*p, 'f', 2, 64) + "%"
	case *p < 0:
		return "同比下降" + strconv.FormatFloat(math.Abs(*p), 'f', 2, 64) + "%"
	}
	return "与上年同期持平"
}
