package statistics

import (
	"sort"

	"xinfang.io/county"
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

// dimKey is a dimension and one of its keys.
type dimKey struct{ Dim, Key string }

func dim(name, key string) dimKey { return dimKey{name, key} }

var total = dimKey{}

// rowKey identifies one day's counters of one dimension key.
type rowKey struct {
	Dim, Key, Day string
}

// contribution is what one case adds to one counter of one day.
type contribution struct {
	row rowKey
	m   metric
	v   int64
}

// contributions is what one case adds to the counters, a pure function of
// its state: applying events replaces the case's old contributions by its
// new ones, which is how a re-routing moves a matter to another department,
// an extension moves its handling due day, and a later repeat petition
// takes it out of 一次性化解. Entries for the same counter may repeat; they
// add up.
type contributions []contribution

func (cs *contributions) add(m metric, day string, v int64, dims ...dimKey) {
	if day == "" || v == 0 {
		return
	}
	for _, d := range dims {
		*cs = append(*cs, contribution{rowKey{d.Dim, d.Key, day}, m, v})
	}
}

func (c *caseState) contributions() contributions {
	return c.appendContributions(make(contributions, 0, 96))
}

// appendContributions appends the case's contributions to m: the batch
// ingest recomputes them on every event of a case, into the slice of the
// ones they replace.
func (c *caseState) appendContributions(m contributions) contributions {
	if !c.Registered {
		return m
	}
	// all: the county total, and the lead department once routed to one
	// (a department-scoped summary is the county's figures for the matters
	// its department handles).
	all := []dimKey{total}
	if c.LeadDept != "" {
		all = append(all, dim(dimDepartment, c.LeadDept))
	}
	// Registrations, by the day received.
	reg := append([]dimKey{dim(dimChannel, c.Channel), dim(dimCategory, c.category()), dim(dimTownship, c.Township)}, all...)
	withRespondent := reg
	if c.Respondent != "" {
		withRespondent = append(append([]dimKey(nil), reg...), dim(dimRespondent, c.Respondent))
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
		m.add(mGroupPersons, day, int64(c.Persons), all...)
	}
	if c.Channel == "web" {
		m.add(mOnline, day, 1, all...)
	}

	// Routing, by the day of the current decision.
	switch c.RouteKind {
	case routeAssigned:
		metric := mTransferred
		if c.AssignMode == "assign" {
			metric = mAssigned
		}
		m.add(metric, c.RouteDay, 1, all...)
	case routeDiverted:
		m.add(mDiverted, c.RouteDay, 1, total, dim(dimLegalChannel, c.LegalChannel))
	case routeForwarded:
		m.add(mForwarded, c.RouteDay, 1, total)
	case routeNotAccepted:
		m.add(mNotAccepted, c.RouteDay, 1, total)
	}
	if c.DeclinedDay != "" && c.RouteKind == routeAssigned {
		m.add(mNotAccepted, c.DeclinedDay, 1, all...)
	}

	// 及时受理: first-time matters, by acknowledgement due day.
	if due := c.ackDue(); c.RouteKind == routeAssigned && c.firstTime() && due != "" {
		m.add(mAckDue, due, 1, all...)
		if c.ackedByLead() && c.AckDay <= due {
			m.add(mAckOnTime, due, 1, all...)
		}
	}
	// 按期办结: by handling due day (an extension or 退回重办 moves it).
	if c.RouteKind == routeAssigned && c.HandlingDue != "" {
		m.add(mHandlingDue, c.HandlingDue, 1, all...)
		if done := c.handledDay(); done != "" && done <= c.HandlingDue {
			m.add(mHandledOnTime, c.HandlingDue, 1, all...)
		}
		if c.Extended {
			m.add(mExtended, c.HandlingDue, 1, all...)
		}
	}
	// 办结 / 化解 / 一次性化解 / 领导包案, by conclusion day.
	if done := c.concludedDay(); done != "" {
		withCat := append([]dimKey{dim(dimCategory, c.category())}, all...)
		m.add(mConcluded, done, 1, withCat...)
		if c.resolved() {
			m.add(mResolved, done, 1, withCat...)
		}
		if c.category() == "complaint" && c.firstTime() {
			m.add(mOneTimeBase, done, 1, all...)
			if !c.HasRepeat && c.ReviewDay == "" {
				m.add(mOneTime, done, 1, all...)
			}
		}
		if c.LeaderOwned {
			m.add(mLeaderDone, done, 1, all...)
			if c.resolved() {
				m.add(mLeaderSolved, done, 1, all...)
			}
		}
	}
	// 满意率 / 参评率, by rating day, each target separately; the handling
	// unit's rating counts for the department rated.
	rate := func(r, day string, rated, satis, lapsed metric, dims ...dimKey) {
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
	rate(c.BureauRating, c.BureauRatingDay, mBureauRated, mBureauSatis, mBureauLapsed, all...)
	unitDims := []dimKey{total}
	if c.UnitRatingDept != "" {
		unitDims = append(unitDims, dim(dimDepartment, c.UnitRatingDept))
	}
	rate(c.UnitRating, c.UnitRatingDay, mUnitRated, mUnitSatis, mUnitLapsed, unitDims...)
	// 调解, by the day of the latest mediation.
	if c.MediationDay != "" {
		m.add(mMediated, c.MediationDay, 1, all...)
		if c.MediationAgreed {
			m.add(mMediatedOK, c.MediationDay, 1, all...)
		}
	}
	// 复查 / 复核.
	m.add(mReviewReq, c.ReviewDay, 1, all...)
	if c.ReviewDecidedDay != "" {
		m.add(mReviewDone, c.ReviewDecidedDay, 1, all...)
		if c.ReviewOutcome == "upheld" {
			m.add(mReviewUpheld, c.ReviewDecidedDay, 1, all...)
		}
	}
	m.add(mReReviewReq, c.ReReviewDay, 1, all...)
	if c.ReReviewDecided != "" {
		m.add(mReReviewDone, c.ReReviewDecided, 1, all...)
		if c.ReReviewOutcome == "upheld" {
			m.add(mReReviewKept, c.ReReviewDecided, 1, all...)
		}
	}
	// 积案: +1 when past due, −1 when no longer, per ageing bucket; by the
	// department the obligation lies with ("" = the bureau, before routing).
	for _, iv := range c.backlogIntervals() {
		dims := []dimKey{total, dim(dimDepartment, iv.dept)}
		m.level(mBacklog, iv.from, iv.to, dims)
		due := mustDay(iv.due)
		for _, b := range backlogBuckets {
			from := due.AddDays(b.lo).String()
			to := ""
			if b.hi > 0 {
				to = due.AddDays(b.hi + 1).String()
			}
			from, to = clip(from, to, iv.from, iv.to)
			if to == "" || from < to {
				m.level(b.m, from, to, dims)
			}
		}
	}
	return m
}

// level adds a level of 1 over [from, to) (to "" = open-ended): +1 on from,
// −1 on to.
func (cs *contributions) level(m metric, from, to string, dims []dimKey) {
	cs.add(m, from, 1, dims...)
	cs.add(m, to, -1, dims...)
}

// clip intersects [a, b) with [lo, hi), "" ends being open.
func clip(a, b, lo, hi string) (string, string) {
	if lo > a {
		a = lo
	}
	if hi != "" && (b == "" || hi < b) {
		b = hi
	}
	return a, b
}

// mustDay parses a stored day (always valid: validated when applied).
func mustDay(s string) county.Date {
	d, err := county.ParseDate(s)
	if err != nil {
		panic("statistics: stored day " + s + ": " + err.Error())
	}
	return d
}

// backlogInterval is a stretch of days [from, to) on which a case was 积案
// for one obligation: open, its pending obligation (due) past due, lying
// with dept. to "" is open-ended (still past due today).
type backlogInterval struct {
	from, to, due, dept string
}

// backlogIntervals are the days on which the case was 积案, from the days
// of its milestones: between two milestones the pending obligation is that
// of the state as of the first (asOf), and the case is 积案 from the day
// after its due day. The state keeps only the latest routing decision:
// between the first decision and a later re-routing the matter lay with a
// department it no longer names, and those days count as no obligation.
func (c *caseState) backlogIntervals() []backlogInterval {
	if !c.Registered || c.ReceivedDay == "" || !c.anyPending() {
		return nil
	}
	points := []string{c.ReceivedDay}
	for _, p := range []string{c.FirstRouteDay, c.RouteDay, c.AckDay, c.AcceptedDay, c.RepliedDay, c.DeclinedDay,
		c.ReviewDay, c.ReviewDecidedDay, c.ReReviewDay, c.ReReviewDecided, c.ClosedDay, c.FinalDay} {
		if p > c.ReceivedDay {
			points = append(points, p)
		}
	}
	sort.Strings(points)
	var out []backlogInterval
	for i, p := range points {
		if i > 0 && p == points[i-1] {
			continue
		}
		end := ""
		for _, q := range points[i+1:] {
			if q != p {
				end = q
				break
			}
		}
		if c.RouteDay > p && c.FirstRouteDay != "" && c.FirstRouteDay <= p {
			continue // between a first routing and the re-routing
		}
		s := c.asOf(p)
		due := s.pendingDue()
		if due == "" {
			continue
		}
		from := mustDay(due).AddDays(1).String()
		if from < p {
			from = p
		}
		if end != "" && from >= end {
			continue
		}
		iv := backlogInterval{from: from, to: end, due: due, dept: s.pendingDept()}
		if n := len(out); n > 0 && out[n-1].to == iv.from && out[n-1].due == iv.due && out[n-1].dept == iv.dept {
			out[n-1].to = iv.to
			continue
		}
		out = append(out, iv)
	}
	return out
}

// anyPending is a quick test whether the case ever had a due day at all.
func (c *caseState) anyPending() bool {
	return c.RoutingDue != "" || c.RoutingDueChanged != "" || c.AckDue != "" || c.HandlingDue != "" ||
		c.ReviewDue != "" || c.ReReviewDue != ""
}

// asOf is the state as it stood at the end of day d, as far as the
// milestones kept tell: every milestone after d is undone.
func (c *caseState) asOf(d string) caseState {
	s := *c
	after := func(x string) bool { return x > d }
	if after(s.ClosedDay) {
		s.ClosedDay, s.CloseReason = "", ""
	}
	if after(s.FinalDay) {
		s.FinalDay = ""
	}
	if after(s.RouteDay) {
		s.RouteKind, s.LeadDept = "", ""
	}
	if after(s.AckDay) {
		s.AckDay, s.AckDept = "", ""
	}
	accepted := s.AcceptedDay
	if accepted == "" && s.HandlingDue != "" {
		accepted = s.RouteDay // accepted some day after routing (older states kept no day)
	}
	if after(accepted) {
		s.HandlingDue = ""
	}
	if after(s.RepliedDay) {
		s.RepliedDay = ""
	}
	if after(s.DeclinedDay) {
		s.DeclinedDay = ""
	}
	if after(s.ReviewDay) {
		s.ReviewDay, s.ReviewDecidedDay = "", ""
	}
	if after(s.ReviewDecidedDay) {
		s.ReviewDecidedDay = ""
	}
	if after(s.ReReviewDay) {
		s.ReReviewDay, s.ReReviewDecided = "", ""
	}
	if after(s.ReReviewDecided) {
		s.ReReviewDecided = ""
	}
	return s
}
