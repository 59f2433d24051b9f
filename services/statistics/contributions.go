package statistics

import "sort"

// Counter metrics. Each is a count of matters (or, for duban, of notices)
// attributed to one civil day; docs/metrics.md defines every figure built
// from them. The names are stored: never rename one.
const (
	mRegistrations = "registrations"  // 件次, received day
	mPersons       = "persons"        // 人次 (Σ person count), received day
	mFirstTime     = "first_time"     // registrations without repeat_of
	mRepeat        = "repeat"         // registrations with repeat_of
	mGroup         = "group"          // group petitions (Art. 20)
	mGroupPersons  = "group_persons"  // persons of group petitions
	mOnline        = "online"         // 网上信访 (channel web)
	mTransferred   = "transferred"    // 转送, day of the current assignment
	mAssigned      = "assigned"       // 交办, day of the current assignment
	mDiverted      = "diverted"       // 诉访分离, day of diversion (dim legal_channel)
	mForwarded     = "forwarded"      // forwarded out of the county
	mNotAccepted   = "not_accepted"   // 不予受理
	mDuban         = "duban"          // 督办通知 (supervision DUBAN_NOTICE actions), action day
	mAckDue        = "ack_due"        // first-time matters whose acknowledgement is due that day
	mAckOnTime     = "ack_on_time"    // … acknowledged by the lead department on or before it
	mHandlingDue   = "handling_due"   // matters whose handling (incl. extension) is due that day
	mHandledOnTime = "handled_ontime" // … replied on or before it
	mExtended      = "extended"       // … whose handling was extended (Art. 34)
	mConcluded     = "concluded"      // 办结 (closed, not routed out, or final), conclusion day
	mResolved      = "resolved"       // 化解: concluded and unit 满意/基本满意 or mediation agreement
	mOneTimeBase   = "onetime_base"   // concluded first-time 申诉求决 matters
	mOneTime       = "onetime"        // … with no repeat petition and no review request
	mLeaderDone    = "leader_concluded"
	mLeaderSolved  = "leader_resolved"
	mBureauRated   = "bureau_rated"     // bureau rated 满意/基本满意/不满意, rating day
	mBureauSatis   = "bureau_satisfied" // bureau rated 满意/基本满意
	mBureauLapsed  = "bureau_lapsed"    // bureau rating lapsed (超期未评价)
	mUnitRated     = "unit_rated"
	mUnitSatis     = "unit_satisfied"
	mUnitLapsed    = "unit_lapsed"
	mMediated      = "mediated"         // matters mediated, day of the latest mediation
	mMediatedOK    = "mediation_agreed" // … with an agreement
	mReviewReq     = "review_requested" // 复查 requested, request day
	mReviewDone    = "review_decided"   // 复查 decided, decision day
	mReviewUpheld  = "review_upheld"    // … 维持
	mReReviewReq   = "rereview_requested"
	mReReviewDone  = "rereview_decided"
	mReReviewKept  = "rereview_upheld"
)

// Dimensions. dimTotal ("") with key "" is the county total.
const (
	dimTotal        = ""
	dimChannel      = "channel"
	dimCategory     = "category"
	dimTownship     = "township"
	dimDepartment   = "department"
	dimRespondent   = "respondent"
	dimLegalChannel = "legal_channel"
)

// dueDayMetrics are attributed to a due day and only count for due days
// that have come (≤ today), so a matter still within its time limit is
// neither on time nor late.
var dueDayMetrics = map[string]bool{mAckDue: true, mAckOnTime: true, mHandlingDue: true, mHandledOnTime: true, mExtended: true}

// counterKey identifies one counter of one day.
type counterKey struct {
	Metric, Dim, Key, Day string
}

// contributions is what one case adds to the counters, a pure function of
// its state: applying an event replaces the case's old contributions by
// its new ones (see diff), which is how a re-routing moves a matter to
// another department, an extension moves its handling due day, and a later
// repeat petition takes it out of 一次性化解.
type contributions map[counterKey]int64

func (m contributions) add(metric, day string, v int64, dims ...[2]string) {
	if day == "" || v == 0 {
		return
	}
	for _, d := range dims {
		m[counterKey{metric, d[0], d[1], day}] += v
	}
}

func dim(name, key string) [2]string { return [2]string{name, key} }

var total = dim(dimTotal, "")

func (c *caseState) contributions() contributions {
	m := contributions{}
	if !c.Registered {
		return m
	}
	// Registrations, by the day received.
	reg := []([2]string){total, dim(dimChannel, c.Channel), dim(dimCategory, c.category()), dim(dimTownship, c.Township)}
	if c.LeadDept != "" {
		reg = append(reg, dim(dimDepartment, c.LeadDept))
	}
	withRespondent := reg
	if c.Respondent != "" {
		withRespondent = append(append([][2]string(nil), reg...), dim(dimRespondent, c.Respondent))
	}
	day := c.ReceivedDay
	m.add(mRegistrations, day, 1, withRespondent...)
	m.add(mPersons, day, int64(c.Persons), withRespondent...)
	if c.firstTime() {
		m.add(mFirstTime, day, 1, reg...)
	} else {
		m.add(mRepeat, day, 1, reg...)
	}
	if c.Group {
		m.add(mGroup, day, 1, reg...)
		m.add(mGroupPersons, day, int64(c.Persons), total)
	}
	if c.Channel == "web" {
		m.add(mOnline, day, 1, total)
	}

	// Routing, by the day of the current decision.
	switch c.RouteKind {
	case routeAssigned:
		metric := mTransferred
		if c.AssignMode == "assign" {
			metric = mAssigned
		}
		m.add(metric, c.RouteDay, 1, total, dim(dimDepartment, c.LeadDept))
	case routeDiverted:
		m.add(mDiverted, c.RouteDay, 1, total, dim(dimLegalChannel, c.LegalChannel))
	case routeForwarded:
		m.add(mForwarded, c.RouteDay, 1, total)
	case routeNotAccepted:
		m.add(mNotAccepted, c.RouteDay, 1, total)
	}
	dept := dim(dimDepartment, c.LeadDept)

	// 及时受理: first-time matters, by acknowledgement due day.
	if c.RouteKind == routeAssigned && c.firstTime() && c.AckDue != "" {
		m.add(mAckDue, c.AckDue, 1, total, dept)
		if c.ackedByLead() && c.AckDay <= c.AckDue {
			m.add(mAckOnTime, c.AckDue, 1, total, dept)
		}
	}
	// 按期办结: by handling due day (an extension or 退回重办 moves it).
	if c.RouteKind == routeAssigned && c.HandlingDue != "" {
		m.add(mHandlingDue, c.HandlingDue, 1, total, dept)
		if done := c.handledDay(); done != "" && done <= c.HandlingDue {
			m.add(mHandledOnTime, c.HandlingDue, 1, total, dept)
		}
		if c.Extended {
			m.add(mExtended, c.HandlingDue, 1, total)
		}
	}
	// 办结 / 化解 / 一次性化解 / 领导包案, by conclusion day.
	if done := c.concludedDay(); done != "" {
		cat := dim(dimCategory, c.category())
		m.add(mConcluded, done, 1, total, dept, cat)
		if c.resolved() {
			m.add(mResolved, done, 1, total, dept, cat)
		}
		if c.category() == "complaint" && c.firstTime() {
			m.add(mOneTimeBase, done, 1, total, dept)
			if !c.HasRepeat && c.ReviewDay == "" {
				m.add(mOneTime, done, 1, total, dept)
			}
		}
		if c.LeaderOwned {
			m.add(mLeaderDone, done, 1, total)
			if c.resolved() {
				m.add(mLeaderSolved, done, 1, total)
			}
		}
	}
	// 满意率 / 参评率, by rating day, each target separately.
	rate := func(r, day, rated, satis, lapsed string, dims ...[2]string) {
		switch {
		case r == ratingLapsed:
			m.add(lapsed, day, 1, dims...)
		case r != "":
			m.add(rated, day, 1, dims...)
			if satisfied(r) {
				m.add(satis, day, 1, dims...)
			}
		}
	}
	rate(c.BureauRating, c.BureauRatingDay, mBureauRated, mBureauSatis, mBureauLapsed, total)
	unitDims := []([2]string){total}
	if c.UnitRatingDept != "" {
		unitDims = append(unitDims, dim(dimDepartment, c.UnitRatingDept))
	}
	rate(c.UnitRating, c.UnitRatingDay, mUnitRated, mUnitSatis, mUnitLapsed, unitDims...)
	// 调解, by the day of the latest mediation.
	if c.MediationDay != "" {
		m.add(mMediated, c.MediationDay, 1, total)
		if c.MediationAgreed {
			m.add(mMediatedOK, c.MediationDay, 1, total)
		}
	}
	// 复查 / 复核.
	m.add(mReviewReq, c.ReviewDay, 1, total, dept)
	if c.ReviewDecidedDay != "" {
		m.add(mReviewDone, c.ReviewDecidedDay, 1, total, dept)
		if c.ReviewOutcome == "upheld" {
			m.add(mReviewUpheld, c.ReviewDecidedDay, 1, total, dept)
		}
	}
	m.add(mReReviewReq, c.ReReviewDay, 1, total, dept)
	if c.ReReviewDecided != "" {
		m.add(mReReviewDone, c.ReReviewDecided, 1, total, dept)
		if c.ReReviewOutcome == "upheld" {
			m.add(mReReviewKept, c.ReReviewDecided, 1, total, dept)
		}
	}
	// The department dimension is only meaningful once routed.
	for k := range m {
		if k.Dim == dimDepartment && k.Key == "" {
			delete(m, k)
		}
	}
	return m
}

// diff returns after − before, without zero entries, in a stable order so
// concurrent writers (replicas) lock counter rows in the same order.
func diff(before, after contributions) []counterDelta {
	out := map[counterKey]int64{}
	for k, v := range after {
		out[k] += v
	}
	for k, v := range before {
		out[k] -= v
	}
	deltas := make([]counterDelta, 0, len(out))
	for k, v := range out {
		if v != 0 {
			deltas = append(deltas, counterDelta{k, v})
		}
	}
	sortDeltas(deltas)
	return deltas
}

type counterDelta struct {
	counterKey
	Delta int64
}

func sortDeltas(d []counterDelta) {
	sort.Slice(d, func(i, j int) bool {
		a, b := d[i].counterKey, d[j].counterKey
		if a.Metric != b.Metric {
			return a.Metric < b.Metric
		}
		if a.Dim != b.Dim {
			return a.Dim < b.Dim
		}
		if a.Key != b.Key {
			return a.Key < b.Key
		}
		return a.Day < b.Day
	})
}
