package county

// Escalation is what supervision does when a clock runs late: reminders
// before the due date, then the ladder of supervision measures of Art. 39
// and 40 after it.
type Escalation struct {
	// Ladder is applied in order; steps after the deadline must not go back
	// in time (afterDays never decreases).
	// +optional
	// +kubebuilder:validation:MaxItems=16
	Ladder []EscalationStep `json:"ladder,omitempty"`

	// +optional
	Reminders *Reminders `json:"reminders,omitempty"`

	// AnswerWorkingDays is how long a supervised body has to answer a
	// 督办通知, 挂牌督办 or 限期整改 in writing (Art. 40), in working days
	// from the day the measure is issued. Default 10.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=30
	AnswerWorkingDays *int32 `json:"answerWorkingDays,omitempty"`
}

// DefaultAnswerWorkingDays is the Art. 40 answer window of a county that
// sets none; MaxAnswerWorkingDays the longest a county may set (six weeks
// of working days: longer would defeat the point of 督办).
const (
	DefaultAnswerWorkingDays = 10
	MaxAnswerWorkingDays     = 30
)

// EscalationStep is one rung of the ladder. A reminder may be timed before
// the deadline (beforeDays or percentElapsed) or, with no timing, follows
// Reminders; every other step is timed by afterDays, counted in calendar
// days from the breach.
//
// +kubebuilder:validation:XValidation:rule="self.step == 'reminder' || has(self.afterDays)",message="steps other than reminder need afterDays"
// +kubebuilder:validation:XValidation:rule="self.step == 'reminder' || (!has(self.beforeDays) && !has(self.percentElapsed))",message="only a reminder can be timed by beforeDays or percentElapsed"
// +kubebuilder:validation:XValidation:rule="(has(self.afterDays) ? 1 : 0) + (has(self.beforeDays) ? 1 : 0) + (has(self.percentElapsed) ? 1 : 0) <= 1",message="set at most one of afterDays, beforeDays and percentElapsed"
type EscalationStep struct {
	Step StepKind `json:"step"`

	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=365
	AfterDays *int32 `json:"afterDays,omitempty"`

	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=60
	BeforeDays *int32 `json:"beforeDays,omitempty"`

	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=99
	PercentElapsed *int32 `json:"percentElapsed,omitempty"`

	// NotifyLeader also addresses the department's leader (包案领导).
	// +optional
	NotifyLeader bool `json:"notifyLeader,omitempty"`
}

// StepKind is a supervision measure.
// +kubebuilder:validation:Enum=reminder;duban-notice;interview;circular;listed;rectification
type StepKind string

const (
	StepReminder      StepKind = "reminder"      // 提醒
	StepDubanNotice   StepKind = "duban-notice"  // 督办通知, Art. 40
	StepInterview     StepKind = "interview"     // 约谈, Art. 39
	StepCircular      StepKind = "circular"      // 通报, Art. 39
	StepListed        StepKind = "listed"        // 挂牌督办, Art. 39
	StepRectification StepKind = "rectification" // 限期整改, Art. 39
)

// Reminders are sent while a clock is still running.
type Reminders struct {
	// PercentElapsed: remind when this share of the period has passed.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:Minimum=1
	// +kubebuilder:validation:items:Maximum=99
	PercentElapsed []int32 `json:"percentElapsed,omitempty"`

	// DaysBefore: remind this many calendar days before the due date.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:Minimum=1
	// +kubebuilder:validation:items:Maximum=60
	DaysBefore []int32 `json:"daysBefore,omitempty"`
}

// DefaultEscalation is used by a county that configures none: the ladder
// most provincial bureaus publish.
var DefaultEscalation = Escalation{
	Ladder: []EscalationStep{
		{Step: StepReminder},
		{Step: StepDubanNotice, AfterDays: ptr[int32](0)},
		{Step: StepInterview, AfterDays: ptr[int32](7), NotifyLeader: true},
		{Step: StepCircular, AfterDays: ptr[int32](15), NotifyLeader: true},
		{Step: StepListed, AfterDays: ptr[int32](30), NotifyLeader: true},
	},
	Reminders:         &Reminders{PercentElapsed: []int32{50, 75}, DaysBefore: []int32{3}},
	AnswerWorkingDays: ptr[int32](DefaultAnswerWorkingDays),
}

// Effective returns the county's escalation, falling back to
// DefaultEscalation for an absent ladder, absent reminders or an absent
// answer window. The result is a copy the caller may keep.
func (e *Escalation) Effective() *Escalation {
	out := DefaultEscalation.DeepCopy()
	if e == nil {
		return out
	}
	if len(e.Ladder) > 0 {
		out.Ladder = e.DeepCopy().Ladder
	}
	if e.Reminders != nil {
		out.Reminders = e.Reminders.DeepCopy()
	}
	if e.AnswerWorkingDays != nil {
		out.AnswerWorkingDays = ptr(*e.AnswerWorkingDays)
	}
	return out
}

// AnswerDays is the Art. 40 answer window in working days (the county's
// setting or DefaultAnswerWorkingDays).
func (e *Escalation) AnswerDays() int {
	if e == nil || e.AnswerWorkingDays == nil {
		return DefaultAnswerWorkingDays
	}
	return int(*e.AnswerWorkingDays)
}

func ptr[T any](v T) *T { return &v }
