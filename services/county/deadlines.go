package county

// Deadlines are a county's overrides of the statutory clocks. A county may
// be stricter than the 信访工作条例, never looser, so each field's Maximum is
// the statutory value; an absent field means the statutory value. Days are
// calendar days unless the name says working days; a calendar-day deadline
// that falls on a non-working day moves to the next working day (see
// Calendar.AddDays).
type Deadlines struct {
	// RoutingDays: the bureau routes a registered matter (Art. 22).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=15
	RoutingDays *int32 `json:"routingDays,omitempty"`

	// AcknowledgeDays: the department tells the petitioner whether it accepts
	// the matter (Art. 23).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=15
	AcknowledgeDays *int32 `json:"acknowledgeDays,omitempty"`

	// ObjectionWorkingDays: a department objects to a matter routed to it
	// that is not its to handle (Art. 23).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=5
	ObjectionWorkingDays *int32 `json:"objectionWorkingDays,omitempty"`

	// HandlingDays: a complaint is handled after acceptance (Art. 34).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=60
	HandlingDays *int32 `json:"handlingDays,omitempty"`

	// ExtensionDays: the single extension of the handling clock (Art. 34).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=30
	ExtensionDays *int32 `json:"extensionDays,omitempty"`

	// ReviewRequestDays: the petitioner may request review (复查) after the
	// reply is served (Art. 35).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=30
	ReviewRequestDays *int32 `json:"reviewRequestDays,omitempty"`

	// ReviewDecisionDays: the review body decides (Art. 35).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=30
	ReviewDecisionDays *int32 `json:"reviewDecisionDays,omitempty"`

	// ReReviewRequestDays: the petitioner may request re-review (复核)
	// (Art. 36).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=30
	ReReviewRequestDays *int32 `json:"reReviewRequestDays,omitempty"`

	// ReReviewDecisionDays: the re-review body decides; hearing time is not
	// counted (Art. 36).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=30
	ReReviewDecisionDays *int32 `json:"reReviewDecisionDays,omitempty"`

	// EvaluationDays: the petitioner rates the reply (满意度评价). No statute
	// sets this window; see Statutory.EvaluationDays.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=30
	EvaluationDays *int32 `json:"evaluationDays,omitempty"`

	// SuggestionHandlingDays: the handling clock for suggestions (Art. 29).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=60
	SuggestionHandlingDays *int32 `json:"suggestionHandlingDays,omitempty"`

	// AccusationHandlingDays: the handling clock for accusations (Art. 30).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=60
	AccusationHandlingDays *int32 `json:"accusationHandlingDays,omitempty"`
}

// DeadlineTable is a complete set of clocks, in days.
//
// +kubebuilder:object:generate=false
type DeadlineTable struct {
	RoutingDays            int
	AcknowledgeDays        int
	ObjectionWorkingDays   int // working days, not calendar days
	HandlingDays           int
	ExtensionDays          int
	ReviewRequestDays      int
	ReviewDecisionDays     int
	ReReviewRequestDays    int
	ReReviewDecisionDays   int
	EvaluationDays         int
	SuggestionHandlingDays int
	AccusationHandlingDays int
}

// Statutory is the 信访工作条例 (2022) table, and the upper bound of every
// override. The Maximum markers on Deadlines repeat these numbers because
// markers cannot refer to Go values; markers_test.go keeps them equal.
var Statutory = DeadlineTable{
	RoutingDays:          15, // Art. 22: 信访部门 15 日内转送、交办
	AcknowledgeDays:      15, // Art. 23: 有权处理机关 15 日内告知是否受理
	ObjectionWorkingDays: 5,  // Art. 23: 5 个工作日内提出异议
	HandlingDays:         60, // Art. 34: 受理之日起 60 日内办结
	ExtensionDays:        30, // Art. 34: 延长期限不得超过 30 日
	ReviewRequestDays:    30, // Art. 35: 收到处理意见书之日起 30 日内请求复查
	ReviewDecisionDays:   30, // Art. 35: 收到复查请求之日起 30 日内提出复查意见
	ReReviewRequestDays:  30, // Art. 36: 收到复查意见书之日起 30 日内请求复核
	ReReviewDecisionDays: 30, // Art. 36: 收到复核请求之日起 30 日内提出复核意见

	// Not statutory. The regulation asks for satisfaction evaluation but sets
	// no window; seven days is the platform's default, which a county may
	// lengthen up to MaxEvaluationDays.
	EvaluationDays: 7,

	// Art. 29 and 30 send suggestions and accusations to the procedures of
	// the bodies concerned and fix no number of days. The platform still
	// runs a clock so that nothing is left unsupervised, and caps it at the
	// complaint clock of Art. 34.
	SuggestionHandlingDays: 60,
	AccusationHandlingDays: 60,
}

// MaxEvaluationDays bounds Deadlines.EvaluationDays, which has no statutory
// value to bound it; a month keeps cases from staying open indefinitely.
const MaxEvaluationDays = 30

// limits returns the upper bound of each override; evaluation is the only
// clock whose bound is not the statutory value.
func (t DeadlineTable) limits() DeadlineTable {
	t.EvaluationDays = MaxEvaluationDays
	return t
}

// Effective returns the county's clocks: each override where set, the
// statutory value otherwise. It does not validate; Spec.Validate rejects
// overrides looser than the statute. A nil receiver yields Statutory.
func (d *Deadlines) Effective() DeadlineTable {
	t := Statutory
	if d == nil {
		return t
	}
	for _, f := range d.fields(&t) {
		if *f.override != nil {
			*f.value = int(**f.override)
		}
	}
	return t
}

// deadlineField pairs an override with its slot in a DeadlineTable, so that
// Effective and Validate walk the same list and cannot disagree.
type deadlineField struct {
	name     string // JSON name, for field paths
	override **int32
	value    *int
}

func (d *Deadlines) fields(t *DeadlineTable) []deadlineField {
	return []deadlineField{
		{"routingDays", &d.RoutingDays, &t.RoutingDays},
		{"acknowledgeDays", &d.AcknowledgeDays, &t.AcknowledgeDays},
		{"objectionWorkingDays", &d.ObjectionWorkingDays, &t.ObjectionWorkingDays},
		{"handlingDays", &d.HandlingDays, &t.HandlingDays},
		{"extensionDays", &d.ExtensionDays, &t.ExtensionDays},
		{"reviewRequestDays", &d.ReviewRequestDays, &t.ReviewRequestDays},
		{"reviewDecisionDays", &d.ReviewDecisionDays, &t.ReviewDecisionDays},
		{"reReviewRequestDays", &d.ReReviewRequestDays, &t.ReReviewRequestDays},
		{"reReviewDecisionDays", &d.ReReviewDecisionDays, &t.ReReviewDecisionDays},
		{"evaluationDays", &d.EvaluationDays, &t.EvaluationDays},
		{"suggestionHandlingDays", &d.SuggestionHandlingDays, &t.SuggestionHandlingDays},
		{"accusationHandlingDays", &d.AccusationHandlingDays, &t.AccusationHandlingDays},
	}
}

// HandlingDaysFor returns the handling clock for a category.
func (t DeadlineTable) HandlingDaysFor(c Category) int {
	switch c {
	case CategorySuggestion:
		return t.SuggestionHandlingDays
	case CategoryAccusation:
		return t.AccusationHandlingDays
	default:
		return t.HandlingDays
	}
}
