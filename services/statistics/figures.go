package statistics

import (
	"math"
	"sort"

	"xinfang.io/county"
)

// countDef is a count figure: the sum of one counter over the period.
type countDef struct {
	ID     string
	Metric metric
	Label  string
}

// rateDef is a rate figure: Σ numerator counters / Σ denominator counters
// over the period, as a percent with two decimals.
type rateDef struct {
	ID, Label string
	Num       []metric
	Den       []metric
}

// countDefs and rateDefs are the figures, in report order. docs/metrics.md
// defines each (a test checks that every id is there).
var countDefs = []countDef{
	{"registrations", mRegistrations, "信访件次"},
	{"persons", mPersons, "信访人次"},
	{"firstTime", mFirstTime, "初次信访件次"},
	{"repeat", mRepeat, "重复信访件次"},
	{"group", mGroup, "集体信访件次"},
	{"groupPersons", mGroupPersons, "集体信访人次"},
	{"online", mOnline, "网上信访件次"},
	{"transferred", mTransferred, "转送"},
	{"assigned", mAssigned, "交办"},
	{"duban", mDuban, "督办"},
	{"diverted", mDiverted, "导入法定途径（诉访分离）"},
	{"forwarded", mForwarded, "转出本县"},
	{"notAccepted", mNotAccepted, "不予受理"},
	{"extended", mExtended, "延期办理"},
	{"concluded", mConcluded, "办结"},
	{"resolved", mResolved, "化解"},
	{"mediated", mMediated, "调解"},
	{"mediationAgreed", mMediatedOK, "调解达成协议"},
	{"reviewRequested", mReviewReq, "复查申请"},
	{"reviewDecided", mReviewDone, "复查办结"},
	{"reviewUpheld", mReviewUpheld, "复查维持"},
	{"reReviewRequested", mReReviewReq, "复核申请"},
	{"reReviewDecided", mReReviewDone, "复核办结"},
	{"reReviewUpheld", mReReviewKept, "复核维持"},
}

var rateDefs = []rateDef{
	{"onlineShare", "网上信访占比", []metric{mOnline}, []metric{mRegistrations}},
	{"firstTimeShare", "初次信访占比", []metric{mFirstTime}, []metric{mRegistrations}},
	{"timelyAcknowledgement", "及时受理率", []metric{mAckOnTime}, []metric{mAckDue}},
	{"onTimeCompletion", "按期办结率", []metric{mHandledOnTime}, []metric{mHandlingDue}},
	{"oneTimeResolution", "一次性化解率", []metric{mOneTime}, []metric{mOneTimeBase}},
	{"resolution", "化解率", []metric{mResolved}, []metric{mConcluded}},
	{"bureauSatisfaction", "信访部门满意率", []metric{mBureauSatis}, []metric{mBureauRated}},
	{"bureauParticipation", "信访部门参评率", []metric{mBureauRated}, []metric{mBureauRated, mBureauLapsed}},
	{"unitSatisfaction", "责任单位满意率", []metric{mUnitSatis}, []metric{mUnitRated}},
	{"unitParticipation", "责任单位参评率", []metric{mUnitRated}, []metric{mUnitRated, mUnitLapsed}},
	{"mediationSuccess", "调解达成率", []metric{mMediatedOK}, []metric{mMediated}},
	{"reviewUpheld", "复查维持率", []metric{mReviewUpheld}, []metric{mReviewDone}},
	{"reReviewUpheld", "复核维持率", []metric{mReReviewKept}, []metric{mReReviewDone}},
	{"leaderResolution", "领导包案化解率", []metric{mLeaderSolved}, []metric{mLeaderDone}},
}

// Count is a count figure with its year-on-year comparison.
type Count struct {
	Label    string `json:"label"`
	Value    int64  `json:"value"`
	Previous int64  `json:"previous"`
	// ChangePercent = (value − previous) / previous × 100, two decimals;
	// null when previous is 0.
	ChangePercent *float64 `json:"changePercent"`
}

// Rate is a rate figure; Percent is null when the denominator is 0.
type Rate struct {
	Label       string   `json:"label"`
	Numerator   int64    `json:"numerator"`
	Denominator int64    `json:"denominator"`
	Percent     *float64 `json:"percent"`
	// PreviousPercent is the same rate a year earlier (summary only).
	PreviousPercent *float64 `json:"previousPercent,omitempty"`
}

// round2 rounds half away from zero to two decimals.
func round2(x float64) float64 { return math.Round(x*100) / 100 }

// percent is num/den × 100 with two decimals, nil when den is 0.
func percent(num, den int64) *float64 {
	if den == 0 {
		return nil
	}
	p := round2(float64(num) * 100 / float64(den))
	return &p
}

// change is the year-on-year change in percent, nil when prev is 0.
func change(cur, prev int64) *float64 {
	if prev == 0 {
		return nil
	}
	p := round2(float64(cur-prev) * 100 / float64(prev))
	return &p
}

func sumOf(v *vec, ms []metric) int64 {
	var n int64
	for _, m := range ms {
		n += v[m]
	}
	return n
}

// counts builds the count figures from one key's sums (prev nil: no
// comparison).
func counts(cur, prev *vec) map[string]Count {
	out := make(map[string]Count, len(countDefs))
	for _, d := range countDefs {
		c := Count{Label: d.Label, Value: cur[d.Metric]}
		if prev != nil {
			c.Previous = prev[d.Metric]
			c.ChangePercent = change(c.Value, c.Previous)
		}
		out[d.ID] = c
	}
	return out
}

// rates builds the rate figures from one key's sums (prev nil: no
// comparison).
func rates(cur, prev *vec) map[string]Rate {
	out := make(map[string]Rate, len(rateDefs))
	for _, d := range rateDefs {
		r := Rate{Label: d.Label, Numerator: sumOf(cur, d.Num), Denominator: sumOf(cur, d.Den)}
		r.Percent = percent(r.Numerator, r.Denominator)
		if prev != nil {
			r.PreviousPercent = percent(sumOf(prev, d.Num), sumOf(prev, d.Den))
		}
		out[d.ID] = r
	}
	return out
}

// plainCounts is counts without the comparison, for breakdown rows.
func plainCounts(cur *vec) map[string]int64 {
	out := make(map[string]int64, len(countDefs))
	for _, d := range countDefs {
		out[d.ID] = cur[d.Metric]
	}
	return out
}

// Backlog is 积案: open cases whose pending obligation's due day has
// passed, as of a day, by age and department.
type Backlog struct {
	AsOf         string      `json:"asOf"`
	Total        int64       `json:"total"`
	Ageing       []AgeBucket `json:"ageing"`
	ByDepartment []Entry     `json:"byDepartment"`
}

// AgeBucket counts backlog cases by days past due.
type AgeBucket struct {
	Bucket string `json:"bucket"`
	Label  string `json:"label"`
	Count  int64  `json:"count"`
}

// Entry is one key of a ranked list.
type Entry struct {
	Key   string `json:"key"`
	Label string `json:"label"`
	Value int64  `json:"value"`
}

// ageBuckets name the 积案 ageing buckets (backlogBuckets are their
// counters, in the same order).
var ageBuckets = []struct {
	id, label string
}{
	{"1-30", "超期1–30天"}, {"31-90", "超期31–90天"}, {"91-180", "超期91–180天"}, {"180+", "超期180天以上"},
}

// buildBacklog turns backlog levels into the answer: ageing from the
// bucket levels of the scope (the county or one department), by
// department from each department's level (nil: not listed).
func buildBacklog(scope *vec, byDept sums, asOf county.Date, label func(string) string) Backlog {
	b := Backlog{AsOf: asOf.String(), Ageing: make([]AgeBucket, len(ageBuckets)), ByDepartment: []Entry{}}
	for i, a := range ageBuckets {
		n := scope[backlogBuckets[i].m]
		b.Ageing[i] = AgeBucket{Bucket: a.id, Label: a.label, Count: n}
		b.Total += n
	}
	for k, v := range byDept {
		if n := v[mBacklog]; n != 0 {
			b.ByDepartment = append(b.ByDepartment, Entry{Key: k, Label: label(k), Value: n})
		}
	}
	rank(b.ByDepartment)
	return b
}

// rank sorts entries by value, largest first, then by key.
func rank(es []Entry) {
	sort.Slice(es, func(i, j int) bool {
		if es[i].Value != es[j].Value {
			return es[i].Value > es[j].Value
		}
		return es[i].Key < es[j].Key
	})
}

// ranked turns one metric of a dimension's sums into ranked entries
// (zeros left out), at most limit of them (0 = all).
func ranked(s sums, m metric, limit int, label func(string) string) []Entry {
	out := []Entry{}
	for k, v := range s {
		if n := v[m]; n != 0 {
			out = append(out, Entry{Key: k, Label: label(k), Value: n})
		}
	}
	rank(out)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}
