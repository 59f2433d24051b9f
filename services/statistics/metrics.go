package statistics

// metric is one counter of stat_counts (a column, m_<name>). Each counts
// matters (or, for duban, notices) attributed to one civil day;
// docs/metrics.md defines every figure built from them.
type metric int

// The counters. Their names are stored as column names: never rename one;
// a new one is a new column (a migration) appended at the end.
const (
	mRegistrations metric = iota // 件次, received day
	mPersons                     // 人次 (Σ person count), received day
	mFirstTime                   // registrations without repeat_of
	mRepeat                      // registrations with repeat_of
	mGroup                       // group petitions (Art. 20)
	mGroupPersons                // persons of group petitions
	mOnline                      // 网上信访 (channel web)
	mTransferred                 // 转送, day of the current assignment
	mAssigned                    // 交办, day of the current assignment
	mDiverted                    // 诉访分离, day of diversion (dim legal_channel)
	mForwarded                   // forwarded out of the county
	mNotAccepted                 // 不予受理 (routing's or the department's), decision day
	mDuban                       // 督办通知 (supervision DUBAN_NOTICE actions), action day
	mAckDue                      // first-time matters whose acknowledgement is due that day
	mAckOnTime                   // … acknowledged by the lead department on or before it
	mHandlingDue                 // matters whose handling (incl. extension) is due that day
	mHandledOnTime               // … replied on or before it
	mExtended                    // … whose handling was extended (Art. 34)
	mConcluded                   // 办结 (closed, not routed out, or final), conclusion day
	mResolved                    // 化解: concluded and unit 满意/基本满意 or mediation agreement
	mOneTimeBase                 // concluded first-time 申诉求决 matters
	mOneTime                     // … with no repeat petition and no review request
	mLeaderDone                  // concluded leader-owned matters
	mLeaderSolved                // … 化解
	mBureauRated                 // bureau rated 满意/基本满意/不满意, rating day
	mBureauSatis                 // bureau rated 满意/基本满意
	mBureauLapsed                // bureau rating lapsed (超期未评价)
	mUnitRated                   // handling unit rated
	mUnitSatis                   // … 满意/基本满意
	mUnitLapsed                  // … lapsed
	mMediated                    // matters mediated, day of the latest mediation
	mMediatedOK                  // … with an agreement
	mReviewReq                   // 复查 requested, request day
	mReviewDone                  // 复查 decided, decision day
	mReviewUpheld                // … 维持
	mReReviewReq                 // 复核 requested
	mReReviewDone                // 复核 decided
	mReReviewKept                // … 维持
	// 积案 as changes of a level: +1 on the first day a matter is past due,
	// −1 on the day it no longer is (or moves to the next ageing bucket).
	// The backlog as of a day is the sum of these up to that day.
	mBacklog        // any age
	mBacklog1       // 1–30 days past due
	mBacklog31      // 31–90
	mBacklog91      // 91–180
	mBacklog181     // more than 180
	numMetrics  int = iota
)

// metricNames are the stored names (column m_<name>), by metric.
var metricNames = [numMetrics]string{
	"registrations", "persons", "first_time", "repeat", "group", "group_persons", "online",
	"transferred", "assigned", "diverted", "forwarded", "not_accepted", "duban",
	"ack_due", "ack_on_time", "handling_due", "handled_ontime", "extended",
	"concluded", "resolved", "onetime_base", "onetime", "leader_concluded", "leader_resolved",
	"bureau_rated", "bureau_satisfied", "bureau_lapsed", "unit_rated", "unit_satisfied", "unit_lapsed",
	"mediated", "mediation_agreed", "review_requested", "review_decided", "review_upheld",
	"rereview_requested", "rereview_decided", "rereview_upheld",
	"backlog", "backlog_1_30", "backlog_31_90", "backlog_91_180", "backlog_181",
}

func (m metric) column() string { return "m_" + metricNames[m] }

// backlogBuckets are the 积案 ageing buckets as counters: days past due
// from lo to hi inclusive (hi 0: no limit).
var backlogBuckets = []struct {
	m      metric
	lo, hi int
}{{mBacklog1, 1, 30}, {mBacklog31, 31, 90}, {mBacklog91, 91, 180}, {mBacklog181, 181, 0}}

// dueDayMetrics are attributed to a due day and only count for due days
// that have come (≤ today), so a matter still within its time limit is
// neither on time nor late.
var dueDayMetrics = map[metric]bool{mAckDue: true, mAckOnTime: true, mHandlingDue: true, mHandledOnTime: true, mExtended: true}

// vec is one row of counters: a value per metric.
type vec [numMetrics]int64

func (v *vec) add(o *vec) {
	for i := range v {
		v[i] += o[i]
	}
}

func (v *vec) zero() bool {
	for _, x := range v {
		if x != 0 {
			return false
		}
	}
	return true
}
