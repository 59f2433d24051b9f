package county

// Warnings are the thresholds of the statistics service's early warnings.
// Ratios are integer percents because CRD schemas handle floats badly.
// Absent fields take the defaults of DefaultWarnings.
type Warnings struct {
	// GroupPersons: a petition of at least this many persons raises a group
	// warning. Art. 20 limits a group visit to five representatives.
	// +optional
	// +kubebuilder:validation:Minimum=2
	// +kubebuilder:validation:Maximum=1000
	GroupPersons *int32 `json:"groupPersons,omitempty"`

	// SpikeFactorPercent: a category, township or respondent whose count in
	// a day exceeds this percentage of its baseline daily mean spikes
	// (200 = twice the baseline).
	// +optional
	// +kubebuilder:validation:Minimum=101
	// +kubebuilder:validation:Maximum=10000
	SpikeFactorPercent *int32 `json:"spikeFactorPercent,omitempty"`

	// SpikeMinCount: fewer petitions than this never spike, so that one
	// petition against a baseline of zero is not an alarm.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	SpikeMinCount *int32 `json:"spikeMinCount,omitempty"`

	// BaselineDays: the rolling window of the baseline.
	// +optional
	// +kubebuilder:validation:Minimum=7
	// +kubebuilder:validation:Maximum=365
	BaselineDays *int32 `json:"baselineDays,omitempty"`

	// RepeatMatters: a petitioner raising this many distinct matters within
	// RepeatWindowDays raises a repeat-petitioner warning.
	// +optional
	// +kubebuilder:validation:Minimum=2
	// +kubebuilder:validation:Maximum=100
	RepeatMatters *int32 `json:"repeatMatters,omitempty"`

	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1095
	RepeatWindowDays *int32 `json:"repeatWindowDays,omitempty"`

	// OverdueThreshold: a department with this many overdue open cases
	// (积案) raises a warning, unless OverdueThresholds names it.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	OverdueThreshold *int32 `json:"overdueThreshold,omitempty"`

	// OverdueThresholds override OverdueThreshold per department.
	// +optional
	// +listType=map
	// +listMapKey=department
	// +kubebuilder:validation:MaxItems=128
	OverdueThresholds []DepartmentThreshold `json:"overdueThresholds,omitempty"`
}

// DepartmentThreshold is one department's overdue threshold.
type DepartmentThreshold struct {
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Department string `json:"department"`

	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	Threshold int32 `json:"threshold"`
}

// WarningThresholds are the effective warning settings.
//
// +kubebuilder:object:generate=false
type WarningThresholds struct {
	GroupPersons       int
	SpikeFactorPercent int
	SpikeMinCount      int
	BaselineDays       int
	RepeatMatters      int
	RepeatWindowDays   int
	OverdueThreshold   int
	// PerDepartment holds the OverdueThresholds overrides; use OverdueFor.
	PerDepartment map[string]int
}

// DefaultWarnings are the platform's defaults; none is statutory except that
// five persons is where Art. 20's group rules begin.
var DefaultWarnings = WarningThresholds{
	GroupPersons:       5,
	SpikeFactorPercent: 200,
	SpikeMinCount:      10,
	BaselineDays:       28,
	RepeatMatters:      3,
	RepeatWindowDays:   180,
	OverdueThreshold:   5,
}

// OverdueFor returns the overdue threshold of a department.
func (w WarningThresholds) OverdueFor(department string) int {
	if n, ok := w.PerDepartment[department]; ok {
		return n
	}
	return w.OverdueThreshold
}

// Effective merges the county's settings over DefaultWarnings. A nil
// receiver yields the defaults.
func (w *Warnings) Effective() WarningThresholds {
	out := DefaultWarnings
	out.PerDepartment = map[string]int{}
	if w == nil {
		return out
	}
	set := func(dst *int, v *int32) {
		if v != nil {
			*dst = int(*v)
		}
	}
	set(&out.GroupPersons, w.GroupPersons)
	set(&out.SpikeFactorPercent, w.SpikeFactorPercent)
	set(&out.SpikeMinCount, w.SpikeMinCount)
	set(&out.BaselineDays, w.BaselineDays)
	set(&out.RepeatMatters, w.RepeatMatters)
	set(&out.RepeatWindowDays, w.RepeatWindowDays)
	set(&out.OverdueThreshold, w.OverdueThreshold)
	for _, t := range w.OverdueThresholds {
		out.PerDepartment[t.Department] = int(t.Threshold)
	}
	return out
}

// RepeatDetection tunes the linking of a new petition to earlier matters of
// the same petitioner.
type RepeatDetection struct {
	// SimilarityPercent: matter texts at least this similar (0-100) are the
	// same matter. An integer percent, since CRD schemas handle floats badly.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	SimilarityPercent *int32 `json:"similarityPercent,omitempty"`

	// WindowDays: how far back to look for a closed matter; open and final
	// matters are always considered (Art. 19(3), 36(3)).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1095
	WindowDays *int32 `json:"windowDays,omitempty"`
}

// RepeatSettings are the effective repeat-detection settings.
//
// +kubebuilder:object:generate=false
type RepeatSettings struct {
	SimilarityPercent int
	WindowDays        int
}

// DefaultRepeatDetection are the platform's defaults.
var DefaultRepeatDetection = RepeatSettings{SimilarityPercent: 80, WindowDays: 365}

// Effective merges the county's settings over DefaultRepeatDetection.
func (r *RepeatDetection) Effective() RepeatSettings {
	out := DefaultRepeatDetection
	if r == nil {
		return out
	}
	if r.SimilarityPercent != nil {
		out.SimilarityPercent = int(*r.SimilarityPercent)
	}
	if r.WindowDays != nil {
		out.WindowDays = int(*r.WindowDays)
	}
	return out
}
