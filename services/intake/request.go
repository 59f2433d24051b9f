package intake

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"xinfang.io/county"
	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/apierror"
)

// RegisterRequest is the body of POST /v1/petitions.
type RegisterRequest struct {
	Channel     string       `json:"channel"`
	Petitioners []Petitioner `json:"petitioners"`
	PersonCount int          `json:"personCount,omitempty"`
	Township    string       `json:"township,omitempty"`
	Title       string       `json:"title"`
	Content     Content      `json:"content"`
	Category    string       `json:"category,omitempty"`
	Respondent  string       `json:"respondent,omitempty"`
	ReceivedAt  string       `json:"receivedAt,omitempty"`
}

// Petitioner is one petitioner or, for a group, one representative.
type Petitioner struct {
	Name     string `json:"name"`
	IDNumber string `json:"idNumber,omitempty"`
	Phone    string `json:"phone,omitempty"`
	Address  string `json:"address"`
}

// Content is the matter: request, facts and reasons (Art. 19).
type Content struct {
	Request string `json:"request"`
	Facts   string `json:"facts"`
	Reasons string `json:"reasons"`
}

// Limits on the request, in characters (runes) unless noted.
const (
	MaxBodyBytes       = 256 << 10
	maxPetitioners     = 50
	maxRepresentatives = 5 // Art. 20
	groupPersons       = 5 // Art. 20: five or more persons make a group petition
	maxPersonCount     = 100000
)

var fieldLimits = map[string]int{
	"name": 64, "address": 200, "phone": 20, "title": 100,
	"request": 2000, "facts": 10000, "reasons": 5000, "respondent": 100, "township": 63,
}

var (
	mobilePhone   = regexp.MustCompile(`^1[3-9][0-9]{9}$`)
	landlinePhone = regexp.MustCompile(`^0[0-9]{2,3}-?[0-9]{7,8}(-[0-9]{1,6})?$`)
	// idLike finds what looks like a resident ID number inside free text, so
	// a petitioner who writes theirs into the facts does not put it in the
	// database or on Kafka in plaintext.
	idLike = regexp.MustCompile(`[0-9]{17}[0-9Xx]`)
)

const idRedaction = "[证件号码已隐去]"

var channels = map[string]eventsv1.Channel{
	"web": eventsv1.Channel_CHANNEL_WEB, "letter": eventsv1.Channel_CHANNEL_LETTER,
	"visit": eventsv1.Channel_CHANNEL_VISIT, "phone": eventsv1.Channel_CHANNEL_PHONE, "fax": eventsv1.Channel_CHANNEL_FAX,
}

var categories = map[string]eventsv1.Category{
	"complaint": eventsv1.Category_CATEGORY_COMPLAINT, "申诉求决": eventsv1.Category_CATEGORY_COMPLAINT,
	"suggestion": eventsv1.Category_CATEGORY_SUGGESTION, "建议意见": eventsv1.Category_CATEGORY_SUGGESTION,
	"accusation": eventsv1.Category_CATEGORY_ACCUSATION, "检举控告": eventsv1.Category_CATEGORY_ACCUSATION,
}

// petition is a validated, normalized registration.
type petition struct {
	channel     eventsv1.Channel
	petitioners []Petitioner
	personCount int
	group       bool
	reps        int
	township    string
	title       string
	content     Content
	category    eventsv1.Category
	respondent  string
	receivedAt  time.Time
}

// validate checks a registration against Arts 19–20 and the county's
// configuration and returns every problem at once, by field path. Error
// messages never echo personal data.
func validate(req *RegisterRequest, cfg *county.Config, now time.Time, live bool) (*petition, error) {
	f := apierror.Fields{}
	p := &petition{}
	limit := func(path, field, v string) string {
		v = strings.TrimSpace(v)
		if !utf8.ValidString(v) {
			f.Add(path, "must be valid UTF-8")
		} else if n := utf8.RuneCountInString(v); n > fieldLimits[field] {
			f.Add(path, "at most %d characters, got %d", fieldLimits[field], n)
		}
		return v
	}
	required := func(path, field, v string, why string) string {
		v = limit(path, field, v)
		if v == "" {
			f.Add(path, "required (%s)", why)
		}
		return v
	}

	ch, ok := channels[strings.ToLower(strings.TrimSpace(req.Channel))]
	if !ok {
		f.Add("channel", "must be one of web, letter, visit, phone, fax")
	}
	p.channel = ch

	switch n := len(req.Petitioners); {
	case n == 0:
		f.Add("petitioners", "at least one petitioner is required (Art. 19: name and address)")
	case n > maxPetitioners:
		f.Add("petitioners", "at most %d petitioners", maxPetitioners)
	}
	for i, pt := range req.Petitioners {
		path := fmt.Sprintf("petitioners[%d]", i)
		out := Petitioner{
			Name:    required(path+".name", "name", pt.Name, "Art. 19: the petitioner's name"),
			Address: required(path+".address", "address", pt.Address, "Art. 19: the petitioner's address"),
		}
		if id := NormalizeIDNumber(pt.IDNumber); id != "" {
			if err := CheckIDNumber(id, now); err != nil {
				f.Add(path+".idNumber", "%s", err.Error())
			}
			out.IDNumber = id
		}
		if ph := strings.ReplaceAll(strings.TrimSpace(pt.Phone), " ", ""); ph != "" {
			if !mobilePhone.MatchString(ph) && !landlinePhone.MatchString(ph) {
				f.Add(path+".phone", "must be a mainland mobile number (11 digits starting 13–19) or a landline with area code, e.g. 0572-5123456")
			}
			out.Phone = ph
		}
		if out.IDNumber == "" && out.Phone == "" {
			f.Add(path+".idNumber", "give an ID number or a phone number so the petitioner can be identified")
		}
		p.petitioners = append(p.petitioners, out)
	}

	p.personCount = req.PersonCount
	if p.personCount == 0 {
		p.personCount = len(req.Petitioners)
	}
	switch {
	case p.personCount < 0 || p.personCount > maxPersonCount:
		f.Add("personCount", "must be between 1 and %d", maxPersonCount)
	case p.personCount < len(req.Petitioners):
		f.Add("personCount", "cannot be smaller than the number of petitioners listed (%d)", len(req.Petitioners))
	}
	p.group = p.personCount >= groupPersons
	if p.group && ch == eventsv1.Channel_CHANNEL_VISIT {
		// Art. 20: a group visit elects representatives, at most five; the
		// petitioners listed for a group visit are those representatives.
		if len(req.Petitioners) > maxRepresentatives {
			f.Add("petitioners", "a group visit elects at most %d representatives (Art. 20), got %d", maxRepresentatives, len(req.Petitioners))
		}
		p.reps = len(req.Petitioners)
	}

	if t := limit("township", "township", req.Township); t != "" {
		if !hasTownship(cfg, t) {
			f.Add("township", "%q is not a township of %s", t, cfg.Spec.DisplayName)
		}
		p.township = t
	}
	p.title = redactIDs(required("title", "title", req.Title, "a short title of the matter"))
	p.content = Content{
		Request: redactIDs(required("content.request", "request", req.Content.Request, "Art. 19: what the petitioner asks for")),
		Facts:   redactIDs(required("content.facts", "facts", req.Content.Facts, "Art. 19: the facts")),
		Reasons: redactIDs(required("content.reasons", "reasons", req.Content.Reasons, "Art. 19: the reasons")),
	}
	if c := strings.TrimSpace(req.Category); c != "" {
		cat, ok := categories[c]
		if !ok {
			f.Add("category", "must be 申诉求决, 建议意见 or 检举控告 (or complaint, suggestion, accusation)")
		}
		p.category = cat
	}
	p.respondent = redactIDs(limit("respondent", "respondent", req.Respondent))
	if d := departmentByIDOrName(cfg, p.respondent); d != "" {
		p.respondent = d
	}

	p.receivedAt = now
	if r := strings.TrimSpace(req.ReceivedAt); r != "" {
		t, err := parseWhen(r)
		switch {
		case err != nil:
			f.Add("receivedAt", "must be a date (2026-11-20) or an RFC 3339 time")
		case t.After(now.Add(time.Minute)):
			f.Add("receivedAt", "cannot be in the future")
		case live && now.Sub(t) > 90*24*time.Hour:
			f.Add("receivedAt", "more than 90 days ago: register history through POST /v1/import")
		default:
			p.receivedAt = t
		}
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

func redactIDs(s string) string { return idLike.ReplaceAllString(s, idRedaction) }

// parseWhen reads a civil date (in China Standard Time) or an RFC 3339 time.
func parseWhen(s string) (time.Time, error) {
	if d, err := county.ParseDate(s); err == nil {
		return d.Start(), nil
	}
	return time.Parse(time.RFC3339, s)
}

func hasTownship(cfg *county.Config, id string) bool {
	for _, t := range cfg.Spec.Townships {
		if t.ID == id {
			return true
		}
	}
	return false
}

// departmentByIDOrName resolves a respondent written as a department id or
// its name to the id, so the accusation guard can act on it.
func departmentByIDOrName(cfg *county.Config, s string) string {
	if s == "" {
		return ""
	}
	// People write "县人社局"-style short forms without the county's name:
	// compare without the county prefix as well.
	short := func(name string) string {
		name = strings.TrimPrefix(name, cfg.Spec.DisplayName)
		return strings.TrimPrefix(name, "县")
	}
	for _, d := range cfg.Spec.Departments {
		if d.ID == s || d.Name == s || short(d.Name) == short(s) {
			return d.ID
		}
	}
	return ""
}
