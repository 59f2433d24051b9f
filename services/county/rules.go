package county

// RoutingRule is one entry of the county's ordered routing table. The routing
// service tries rules in order and applies the first whose Match holds; the
// decision records the rule's ID and the Config's Version, so every routing
// can be explained later against the exact rules in force.
//
// +kubebuilder:validation:XValidation:rule="(has(self.assign) ? 1 : 0) + (has(self.divert) ? 1 : 0) + (has(self.forward) ? 1 : 0) == 1",message="exactly one of assign, divert or forward must be set"
type RoutingRule struct {
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	ID string `json:"id"`

	// Description tells bureau staff why the rule exists.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Description string `json:"description,omitempty"`

	// Match is the condition; an empty match matches every petition, so it
	// is only allowed as the last rule.
	// +optional
	Match Match `json:"match,omitempty"`

	// Assign hands the matter to a lead department and co-departments (交办).
	// +optional
	Assign *Assign `json:"assign,omitempty"`

	// Divert separates a matter that belongs to a legal channel (诉访分离,
	// Art. 31(1)-(4)): the petitioner is guided there and no handling clock
	// starts.
	// +optional
	Divert *Divert `json:"divert,omitempty"`

	// Forward sends the matter to a body outside the county (转送, Art. 22).
	// +optional
	Forward *Forward `json:"forward,omitempty"`
}

// Match is a conjunction: every non-empty condition must hold. Within one
// list, any element may match (categories, townships, respondents, channels,
// keywords.any).
type Match struct {
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=3
	Categories []Category `json:"categories,omitempty"`

	// +optional
	Keywords *Keywords `json:"keywords,omitempty"`

	// Townships are township ids where the matter arose.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Townships []string `json:"townships,omitempty"`

	// Respondents are ids of departments the petition is about (被反映单位).
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Respondents []string `json:"respondents,omitempty"`

	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=5
	Channels []Channel `json:"channels,omitempty"`

	// Group, when set, matches only group petitions (true) or only
	// individual ones (false); see Warnings.GroupPersons.
	// +optional
	Group *bool `json:"group,omitempty"`
}

// Keywords match substrings of the petition's request, facts and reasons.
// Chinese has no word boundaries, so a keyword is a plain substring.
type Keywords struct {
	// Any: at least one must occur.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=32
	Any []string `json:"any,omitempty"`

	// All: every one must occur.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=32
	All []string `json:"all,omitempty"`

	// None: none may occur.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=32
	None []string `json:"none,omitempty"`
}

// Channel is how a petition arrived (Art. 17, 21).
// +kubebuilder:validation:Enum=web;letter;visit;phone;fax
type Channel string

const (
	ChannelWeb    Channel = "web"    // 网上信访
	ChannelLetter Channel = "letter" // 来信
	ChannelVisit  Channel = "visit"  // 来访
	ChannelPhone  Channel = "phone"  // 来电
	ChannelFax    Channel = "fax"    // 传真
)

// Assign names the departments that handle the matter.
type Assign struct {
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Lead string `json:"lead"`

	// Co are co-handling departments (协办单位).
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Co []string `json:"co,omitempty"`
}

// Divert guides the petitioner to a legal channel instead of handling the
// matter as a petition.
type Divert struct {
	LegalChannel LegalChannel `json:"legalChannel"`

	// Body is the authority the petitioner is guided to, by name.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Body string `json:"body"`

	// Department is set when Body is one of the county's departments (e.g.
	// the court), so that statistics can attribute the diversion.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Department string `json:"department,omitempty"`

	// Guidance is the text told to the petitioner.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Guidance string `json:"guidance,omitempty"`
}

// LegalChannel is the legal procedure a diverted matter belongs to
// (Art. 31(1)-(4)).
// +kubebuilder:validation:Enum=litigation;arbitration;party-discipline;administrative-reconsideration;administrative-ruling;administrative-confirmation;administrative-licensing;administrative-penalty;other-legal
type LegalChannel string

const (
	LegalLitigation                    LegalChannel = "litigation"                     // 诉讼, Art. 31(1)
	LegalArbitration                   LegalChannel = "arbitration"                    // 仲裁, Art. 31(2)
	LegalPartyDiscipline               LegalChannel = "party-discipline"               // 党员申诉、申请复审, Art. 31(3)
	LegalAdministrativeReconsideration LegalChannel = "administrative-reconsideration" // 行政复议, Art. 31(4)
	LegalAdministrativeRuling          LegalChannel = "administrative-ruling"          // 行政裁决, Art. 31(4)
	LegalAdministrativeConfirmation    LegalChannel = "administrative-confirmation"    // 行政确认, Art. 31(4)
	LegalAdministrativeLicensing       LegalChannel = "administrative-licensing"       // 行政许可, Art. 31(4)
	LegalAdministrativePenalty         LegalChannel = "administrative-penalty"         // 行政处罚, Art. 31(4)
	LegalOther                         LegalChannel = "other-legal"
)

// Forward sends a matter outside the county, e.g. to a neighbouring county's
// or the city's bureau, when it is theirs to handle.
type Forward struct {
	// To is the receiving body, by name (it has no id in this county).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	To string `json:"to"`

	// +optional
	// +kubebuilder:validation:MaxLength=512
	Reason string `json:"reason,omitempty"`
}
