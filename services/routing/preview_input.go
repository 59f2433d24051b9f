package routing

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"xinfang.io/county"
	"xinfang.io/services/kit/apierror"
)

// Shapes of the petition in a preview request.
const (
	// ShapeRouting is routing's own flat Input: request, facts and reasons
	// at the top, categoryHint, group, repeatOf.
	ShapeRouting = "routing"
	// ShapeIntake is the body a citizen or clerk POSTs to intake's
	// /v1/petitions (docs/api/intake.md): content.{request,facts,reasons},
	// category (申诉求决 / complaint …), petitioners, personCount.
	ShapeIntake = "intake"
)

// intakeBody mirrors intake's RegisterRequest (services/intake/request.go),
// so that provincial IT can preview the exact document intake would
// register. Petitioners are only counted: their personal data is never
// read, kept or logged.
type intakeBody struct {
	Channel     string            `json:"channel"`
	Petitioners []json.RawMessage `json:"petitioners"`
	PersonCount int               `json:"personCount,omitempty"`
	Township    string            `json:"township,omitempty"`
	Title       string            `json:"title"`
	Content     intakeContent     `json:"content"`
	Category    string            `json:"category,omitempty"`
	Respondent  string            `json:"respondent,omitempty"`
	ReceivedAt  string            `json:"receivedAt,omitempty"`
}

type intakeContent struct {
	Request string `json:"request"`
	Facts   string `json:"facts"`
	Reasons string `json:"reasons"`
}

// Keys only one shape has: a body with keys of both is refused rather
// than half read.
var (
	intakeOnlyKeys  = []string{"content", "petitioners", "category", "receivedAt"}
	routingOnlyKeys = []string{"request", "facts", "reasons", "categoryHint", "group", "caseId", "repeatOf"}
)

// intakeCategories are the category spellings intake accepts.
var intakeCategories = map[string]county.Category{
	"complaint": county.CategoryComplaint, "申诉求决": county.CategoryComplaint,
	"suggestion": county.CategorySuggestion, "建议意见": county.CategorySuggestion,
	"accusation": county.CategoryAccusation, "检举控告": county.CategoryAccusation,
}

// intakeGroupPersons is intake's group threshold (Art. 20: five or more
// persons); the registered event carries group = personCount >= 5.
const intakeGroupPersons = 5

// parsePetition reads a preview's petition in either shape and returns it
// as routing's Input, with the shape found. Problems are added to f under
// "petition…".
func parsePetition(raw json.RawMessage, f apierror.Fields) (Input, string) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		f.Add("petition", "required: the petition to route, as intake's POST /v1/petitions body or routing's flat shape")
		return Input{}, ""
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		f.Add("petition", "must be a JSON object: %v", err)
		return Input{}, ""
	}
	has := func(ks []string) []string {
		var out []string
		for _, k := range ks {
			if _, ok := keys[k]; ok {
				out = append(out, k)
			}
		}
		return out
	}
	intakeKeys, routingKeys := has(intakeOnlyKeys), has(routingOnlyKeys)
	if len(intakeKeys) > 0 && len(routingKeys) > 0 {
		f.Add("petition", "mixes intake's body shape (%s) with routing's flat shape (%s): use one",
			strings.Join(intakeKeys, ", "), strings.Join(routingKeys, ", "))
		return Input{}, ""
	}
	if len(intakeKeys) == 0 {
		var in Input
		if err := strictJSON(raw, &in); err != nil {
			f.Add("petition", "%v", err)
			return Input{}, ""
		}
		validateInput(f, "petition", &in)
		return in, ShapeRouting
	}

	var b intakeBody
	if err := strictJSON(raw, &b); err != nil {
		f.Add("petition", "%v", err)
		return Input{}, ""
	}
	in := Input{
		Township:   strings.TrimSpace(b.Township),
		Respondent: strings.TrimSpace(b.Respondent),
		Title:      strings.TrimSpace(b.Title),
		Request:    strings.TrimSpace(b.Content.Request),
		Facts:      strings.TrimSpace(b.Content.Facts),
		Reasons:    strings.TrimSpace(b.Content.Reasons),
	}
	if ch := county.Channel(strings.ToLower(strings.TrimSpace(b.Channel))); slices.Contains(validChannels, ch) {
		in.Channel = ch
	} else {
		f.Add("petition.channel", "must be one of web, letter, visit, phone, fax")
	}
	if c := strings.TrimSpace(b.Category); c != "" {
		cat, ok := intakeCategories[c]
		if !ok {
			f.Add("petition.category", "must be 申诉求决, 建议意见 or 检举控告 (or complaint, suggestion, accusation)")
		}
		in.CategoryHint = cat
	}
	in.PersonCount = b.PersonCount
	if in.PersonCount == 0 {
		in.PersonCount = len(b.Petitioners)
	}
	if in.PersonCount < 0 {
		f.Add("petition.personCount", "must not be negative")
	}
	in.Group = in.PersonCount >= intakeGroupPersons
	return in, ShapeIntake
}

// strictJSON decodes one JSON value refusing unknown fields, as the API
// does for whole bodies.
func strictJSON(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("cannot be read: %w", err)
	}
	return nil
}
