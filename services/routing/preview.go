package routing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"xinfang.io/county"
	"xinfang.io/services/kit/apierror"
	"xinfang.io/services/kit/auth"
)

// PreviewRequest is a dry run of a petition.
type PreviewRequest struct {
	// Petition is the petition to route, in either of two shapes (see
	// parsePetition): the body intake's POST /v1/petitions takes (content,
	// category, petitioners — only counted, personCount) or routing's
	// flat Input (request, facts, reasons, categoryHint, group, repeatOf).
	Petition json.RawMessage `json:"petition"`
	// Rules, when given, are used instead of the live rules: a whole
	// County manifest or a bare spec, as a JSON object or as YAML/JSON text
	// in a string.
	Rules json.RawMessage `json:"rules,omitempty"`
	// Excluded simulates departments excluded after an objection or by
	// recusal: department id → "objection" | "recusal".
	Excluded map[string]string `json:"excluded,omitempty"`
	// Recuse simulates officials recused by name (Art. 28(3)).
	Recuse []string `json:"recuse,omitempty"`
	// RoutingDate (YYYY-MM-DD) is the day to compute deadlines from;
	// today by default.
	RoutingDate string `json:"routingDate,omitempty"`
}

// PreviewResponse is the decision a petition would get, and why.
type PreviewResponse struct {
	County       string `json:"county"`
	RulesVersion string `json:"rulesVersion"`
	RulesSource  string `json:"rulesSource"` // "live" | "request"
	// PetitionShape is the shape the petition was read in ("intake" or
	// "routing"); Input is the petition as routing read it.
	PetitionShape string    `json:"petitionShape"`
	Input         Input     `json:"input"`
	Decision      Decision  `json:"decision"`
	Repeat        *Repeat   `json:"repeat,omitempty"`
	MatchedRule   *RuleView `json:"matchedRule,omitempty"`
	// Rules are the rules tried in order up to the deciding one, each with
	// why it did not match (or which guard passed it over).
	Rules []RuleTrace `json:"rules"`
}

// RuleView is a routing rule as the API shows it.
type RuleView = county.RoutingRule

// Preview implements Service.
func (s *service) Preview(ctx context.Context, req PreviewRequest) (*PreviewResponse, error) {
	if _, err := auth.Require(ctx, auth.RoleSupervisor, auth.RoleAdmin); err != nil {
		return nil, err
	}
	rs, source := s.rules.Current(), "live"
	if len(req.Rules) > 0 && string(req.Rules) != "null" {
		var err error
		if rs, err = s.parseRules(req.Rules, rs.ID()); err != nil {
			return nil, err
		}
		source = "request"
	}
	fields := apierror.Fields{}
	in, shape := parsePetition(req.Petition, fields)
	for i, name := range req.Recuse {
		if len(rs.officialsNamed(name)) == 0 {
			fields.Add(fmt.Sprintf("recuse[%d]", i), "no department of county %s lists %q as its leader or a member", rs.ID(), name)
		}
	}
	for id, g := range req.Excluded {
		if g != GuardObjection && g != GuardRecusal {
			fields.Add("excluded."+id, "must be %q or %q", GuardObjection, GuardRecusal)
		}
	}
	date := RoutingDate(s.now())
	if req.RoutingDate != "" {
		d, err := county.ParseDate(req.RoutingDate)
		if err != nil {
			fields.Add("routingDate", "must be a YYYY-MM-DD date")
		}
		date = d
	}
	if err := fields.Err(); err != nil {
		return nil, err
	}
	var rep Repeat
	if in.RepeatOf != "" {
		var err error
		if rep, err = resolveRepeat(ctx, s.db, in.CaseID, in.RepeatOf); err != nil {
			return nil, err
		}
	}
	d, trace, err := Decide(rs, in, Options{RoutingDate: date, Excluded: req.Excluded, Attempt: 1, Repeat: rep, Explain: true, Recused: req.Recuse})
	if err != nil {
		return nil, err
	}
	resp := &PreviewResponse{County: rs.ID(), RulesVersion: rs.Version(), RulesSource: source, PetitionShape: shape, Input: in,
		Decision: d, Rules: trace.Rules}
	if rep.State != RepeatNone {
		resp.Repeat = &rep
	}
	for i := range rs.Config.Spec.RoutingRules {
		if r := &rs.Config.Spec.RoutingRules[i]; r.ID == d.RuleID {
			resp.MatchedRule = r
		}
	}
	if resp.Rules == nil {
		resp.Rules = []RuleTrace{}
	}
	return resp, nil
}

// parseRules reads a rules document of a preview request. A document
// without a county id (a bare spec) is read as this county's.
func (s *service) parseRules(raw json.RawMessage, countyID string) (*Ruleset, error) {
	data := []byte(raw)
	var text string
	if json.Unmarshal(raw, &text) == nil {
		data = []byte(text)
	}
	cfg, err1 := county.Parse(data)
	if err1 != nil {
		var err2 error
		cfg, err2 = county.Parse(data, county.WithCountyID(countyID))
		if err2 != nil {
			var ve *county.ValidationError
			if errors.As(err1, &ve) {
				return nil, rulesError(err1)
			}
			return nil, rulesError(err2)
		}
	}
	rs, err := Compile(cfg)
	if err != nil {
		return nil, rulesError(err)
	}
	return rs, nil
}

// rulesError reports an invalid rules document with a field per problem.
func rulesError(err error) error {
	var ve *county.ValidationError
	if errors.As(err, &ve) {
		f := apierror.Fields{}
		for _, fe := range ve.Errors {
			f.Add("rules."+fe.Path, "%s", fe.Message)
		}
		return &apierror.Error{Kind: apierror.Validation, Message: "the rules document is invalid: " + err.Error(), Fields: f}
	}
	return &apierror.Error{Kind: apierror.Validation, Message: "the rules document is invalid",
		Fields: apierror.Fields{"rules": err.Error()}}
}

var (
	validChannels   = []county.Channel{county.ChannelWeb, county.ChannelLetter, county.ChannelVisit, county.ChannelPhone, county.ChannelFax}
	validCategories = []county.Category{county.CategoryComplaint, county.CategorySuggestion, county.CategoryAccusation}
)

func validateInput(f apierror.Fields, p string, in *Input) {
	if in.Channel != "" && !slices.Contains(validChannels, in.Channel) {
		f.Add(p+".channel", "must be one of %v", validChannels)
	}
	if in.CategoryHint != "" && !slices.Contains(validCategories, in.CategoryHint) {
		f.Add(p+".categoryHint", "must be one of %v", validCategories)
	}
	if in.PersonCount < 0 {
		f.Add(p+".personCount", "must not be negative")
	}
}
