package county

// Spec is one county's configuration. It is embedded inline in the County
// custom resource's spec and is the whole content of the rules file the
// services hot-reload.
//
// The CRD checks the references a mistake would hurt most (default
// department, lead departments, supervising bodies, townships); Validate
// checks all of them. The API server evaluates these rules on every write
// of a County, its status patches included, and each field access costs it
// a walk of the schema: a reference list is gathered once and checked with
// sets.contains, not one list scanned per element of another (at the
// sample's size, half of the validation's cost; docs/benchmarks.md §4).
//
// +kubebuilder:validation:XValidation:rule="self.departments.exists(d, d.id == self.defaultDepartment)",message="defaultDepartment must be the id of a department"
// +kubebuilder:validation:XValidation:rule="!has(self.routingRules) || sets.contains(self.departments.map(d, d.id), self.routingRules.filter(r, has(r.assign)).map(r, r.assign.lead))",message="every routing rule's assign.lead must be the id of a department"
// +kubebuilder:validation:XValidation:rule="sets.contains(self.departments.map(d, d.id), self.departments.filter(x, has(x.supervisingBody)).map(x, x.supervisingBody))",message="every department's supervisingBody must be the id of a department"
// +kubebuilder:validation:XValidation:rule="!self.departments.exists(x, has(x.township)) || (has(self.townships) && sets.contains(self.townships.map(t, t.id), self.departments.filter(x, has(x.township)).map(x, x.township)))",message="every department's township must be the id of a township"
type Spec struct {
	// DisplayName is the county's name as citizens know it, e.g. 安吉县.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	DisplayName string `json:"displayName"`

	// DivisionCode is the six-digit administrative division code (GB/T 2260),
	// e.g. 330523. The operator's CRD makes it immutable: statistics are keyed
	// by it and a county that changes code is a different county.
	// +kubebuilder:validation:Pattern=`^[1-9][0-9]{5}$`
	DivisionCode string `json:"divisionCode"`

	// Townships are the county's townships and sub-districts (乡镇、街道).
	// +optional
	// +listType=map
	// +listMapKey=id
	// +kubebuilder:validation:MaxItems=64
	Townships []Township `json:"townships,omitempty"`

	// Departments are the bodies petitions can be routed to.
	// +listType=map
	// +listMapKey=id
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=128
	Departments []Department `json:"departments"`

	// RoutingRules are tried in order; the first rule that matches decides.
	// +optional
	// +listType=map
	// +listMapKey=id
	// +kubebuilder:validation:MaxItems=256
	RoutingRules []RoutingRule `json:"routingRules,omitempty"`

	// DefaultDepartment handles what no rule matches; usually the bureau
	// itself, which then routes by hand.
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	DefaultDepartment string `json:"defaultDepartment"`

	// Deadlines may only make statutory clocks shorter.
	// +optional
	Deadlines *Deadlines `json:"deadlines,omitempty"`

	// Calendar lists public holidays and make-up working days (调休).
	// +optional
	Calendar *CalendarSpec `json:"calendar,omitempty"`

	// Escalation is the supervision ladder for late cases (Art. 39, 40).
	// +optional
	Escalation *Escalation `json:"escalation,omitempty"`

	// Warnings are the early-warning thresholds the statistics service uses.
	// +optional
	Warnings *Warnings `json:"warnings,omitempty"`

	// HigherBureau is the petition bureau one level up (e.g. 湖州市信访局).
	// Routing forwards (转送, Art. 22) a petition about a township that is
	// not one of Townships there: the matter arose outside the county.
	// Without it the decision names the higher-level bureau generically.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	HigherBureau string `json:"higherBureau,omitempty"`

	// RepeatDetection tunes how intake links a new petition to an open or
	// final matter of the same petitioner (Art. 19(3), 36(3)).
	// +optional
	RepeatDetection *RepeatDetection `json:"repeatDetection,omitempty"`
}

// Township is a township or sub-district (乡镇、街道) of the county.
type Township struct {
	// ID is a stable ASCII key, conventionally the pinyin of the name.
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	ID string `json:"id"`

	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	Name string `json:"name"`
}

// Department is a body that handles petitions: a government department, a
// township government, the court, the procuratorate or the discipline body.
//
// +kubebuilder:validation:XValidation:rule="!has(self.supervisingBody) || self.supervisingBody != self.id",message="a department cannot be its own supervisingBody"
// +kubebuilder:validation:XValidation:rule="!has(self.kind) || self.kind != 'township' || has(self.township)",message="a department of kind township must name its township"
type Department struct {
	// ID is a stable ASCII key used in rules, events and topics.
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	ID string `json:"id"`

	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	Name string `json:"name"`

	// Kind says what sort of body this is; routing and reports group by it.
	// +optional
	Kind DepartmentKind `json:"kind,omitempty"`

	// Categories are the kinds of matter this department may be assigned
	// (Art. 29-31 treat them differently).
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=3
	Categories []Category `json:"categories"`

	// SupervisingBody is the department that receives accusations against
	// this one, so that accusation material never reaches the accused
	// (Art. 30(3), 46(5)). Usually the county discipline body; for that body
	// itself, the one above it.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	SupervisingBody string `json:"supervisingBody,omitempty"`

	// Township ties a township government to its township, so that rules
	// matching a township can find it.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Township string `json:"township,omitempty"`

	// Leader is whom escalation steps with notifyLeader address. When the
	// name is given, a petition naming the leader as the person it is about
	// keeps the matter from this department: an accusation goes to the
	// supervising body (Art. 30(3), 46(5)), any other matter is recused
	// (Art. 28(3)).
	// +optional
	Leader *Leader `json:"leader,omitempty"`

	// Members are full names of officials of this department who may be
	// named in a petition as the person it is about (被反映人), e.g. deputy
	// heads and section chiefs. An accusation against one of them never
	// reaches this department (Art. 30(3), 46(5)), and bureau staff may
	// recuse one by name (Art. 28(3)), which keeps the matter from the
	// whole department. The leader need not be listed again.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=32
	Members []string `json:"members,omitempty"`
}

// Leader is the person or post answerable for a department's cases. The
// name may be left out so that a change of office holder needs no edit.
type Leader struct {
	// +optional
	// +kubebuilder:validation:MaxLength=32
	Name string `json:"name,omitempty"`

	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=32
	Title string `json:"title"`
}

// Category is the kind of matter (Art. 29-31).
// +kubebuilder:validation:Enum=complaint;suggestion;accusation
type Category string

const (
	// CategoryComplaint is 申诉求决类: the only category with the 60-day
	// handling clock, review and re-review (Art. 31-36).
	CategoryComplaint Category = "complaint"
	// CategorySuggestion is 建议意见类 (Art. 29).
	CategorySuggestion Category = "suggestion"
	// CategoryAccusation is 检举控告类 (Art. 30): never shown to the accused.
	CategoryAccusation Category = "accusation"
)

// Categories lists every category, in the order reports show them.
var Categories = []Category{CategoryComplaint, CategorySuggestion, CategoryAccusation}

// DepartmentKind says what sort of body a department is.
// +kubebuilder:validation:Enum=bureau;department;township;court;procuratorate;discipline
type DepartmentKind string

const (
	KindBureau        DepartmentKind = "bureau"        // 信访局
	KindDepartment    DepartmentKind = "department"    // 政府部门
	KindTownship      DepartmentKind = "township"      // 乡镇政府、街道办事处
	KindCourt         DepartmentKind = "court"         // 人民法院
	KindProcuratorate DepartmentKind = "procuratorate" // 人民检察院
	KindDiscipline    DepartmentKind = "discipline"    // 纪委监委
)
