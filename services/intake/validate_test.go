package intake

import (
	"strings"
	"testing"
	"time"

	"xinfang.io/county"
	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/apierror"
)

func anji(t testing.TB) *county.Config {
	t.Helper()
	cfg, err := county.Load("../../operator/config/samples/county_anji.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

var validID = withCheck("33052319800101002")

func goodRequest() RegisterRequest {
	return RegisterRequest{
		Channel:     "letter",
		Petitioners: []Petitioner{{Name: "张三", IDNumber: validID, Phone: "13800000000", Address: "安吉县递铺街道某村12号"}},
		Township:    "dipu",
		Title:       "拖欠工资",
		Content:     Content{Request: "请求责令支付拖欠工资", Facts: "某公司拖欠三个月工资一万二千元", Reasons: "劳动者有权按时获得报酬"},
		Category:    "申诉求决",
		Respondent:  "县人力资源和社会保障局",
		ReceivedAt:  "2026-11-18",
	}
}

var now = time.Date(2026, 11, 21, 10, 0, 0, 0, county.Shanghai)

// Every rule has a case with the exact field path and a piece of its message.
func TestValidationRules(t *testing.T) {
	cfg := anji(t)
	long := func(n int) string { return strings.Repeat("字", n) }
	cases := []struct {
		name   string
		edit   func(r *RegisterRequest)
		field  string
		substr string
	}{
		{"channel", func(r *RegisterRequest) { r.Channel = "email" }, "channel", "web, letter, visit, phone, fax"},
		{"no petitioners", func(r *RegisterRequest) { r.Petitioners = nil }, "petitioners", "at least one"},
		{"name required", func(r *RegisterRequest) { r.Petitioners[0].Name = " " }, "petitioners[0].name", "Art. 19"},
		{"address required", func(r *RegisterRequest) { r.Petitioners[0].Address = "" }, "petitioners[0].address", "Art. 19"},
		{"id check digit", func(r *RegisterRequest) {
			r.Petitioners[0].IDNumber = validID[:17] + string("0123456789X"[(strings.IndexByte("0123456789X", validID[17])+1)%11])
		}, "petitioners[0].idNumber", "check digit"},
		{"id length", func(r *RegisterRequest) { r.Petitioners[0].IDNumber = "12345" }, "petitioners[0].idNumber", "18 characters"},
		{"id or phone", func(r *RegisterRequest) { r.Petitioners[0].IDNumber, r.Petitioners[0].Phone = "", "" }, "petitioners[0].idNumber", "ID number or a phone"},
		{"phone format", func(r *RegisterRequest) { r.Petitioners[0].Phone = "12345" }, "petitioners[0].phone", "mobile"},
		{"name too long", func(r *RegisterRequest) { r.Petitioners[0].Name = long(65) }, "petitioners[0].name", "at most 64"},
		{"address too long", func(r *RegisterRequest) { r.Petitioners[0].Address = long(201) }, "petitioners[0].address", "at most 200"},
		{"title required", func(r *RegisterRequest) { r.Title = "" }, "title", "required"},
		{"title too long", func(r *RegisterRequest) { r.Title = long(101) }, "title", "at most 100"},
		{"request required", func(r *RegisterRequest) { r.Content.Request = "" }, "content.request", "Art. 19"},
		{"facts required", func(r *RegisterRequest) { r.Content.Facts = "" }, "content.facts", "Art. 19"},
		{"reasons required", func(r *RegisterRequest) { r.Content.Reasons = "" }, "content.reasons", "Art. 19"},
		{"facts too long", func(r *RegisterRequest) { r.Content.Facts = long(10001) }, "content.facts", "at most 10000"},
		{"request too long", func(r *RegisterRequest) { r.Content.Request = long(2001) }, "content.request", "at most 2000"},
		{"reasons too long", func(r *RegisterRequest) { r.Content.Reasons = long(5001) }, "content.reasons", "at most 5000"},
		{"respondent too long", func(r *RegisterRequest) { r.Respondent = long(101) }, "respondent", "at most 100"},
		{"utf-8", func(r *RegisterRequest) { r.Title = "欠薪\xff" }, "title", "UTF-8"},
		{"township", func(r *RegisterRequest) { r.Township = "beijing" }, "township", "not a township of 安吉县"},
		{"category", func(r *RegisterRequest) { r.Category = "投诉" }, "category", "申诉求决"},
		{"person count below petitioners", func(r *RegisterRequest) {
			r.Petitioners = append(r.Petitioners, Petitioner{Name: "李四", Phone: "13900000000", Address: "安吉县"})
			r.PersonCount = 1
		}, "personCount", "cannot be smaller"},
		{"person count range", func(r *RegisterRequest) { r.PersonCount = -3 }, "personCount", "between 1"},
		{"group visit representatives", func(r *RegisterRequest) {
			r.Channel = "visit"
			r.PersonCount = 40
			r.Petitioners = nil
			for i := 0; i < 6; i++ {
				r.Petitioners = append(r.Petitioners, Petitioner{Name: "代表", Phone: "1380000000" + string(rune('0'+i)), Address: "安吉县"})
			}
		}, "petitioners", "at most 5 representatives (Art. 20)"},
		{"received in future", func(r *RegisterRequest) { r.ReceivedAt = "2026-12-01" }, "receivedAt", "future"},
		{"received malformed", func(r *RegisterRequest) { r.ReceivedAt = "yesterday" }, "receivedAt", "date"},
		{"received long ago", func(r *RegisterRequest) { r.ReceivedAt = "2025-01-01" }, "receivedAt", "POST /v1/import"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := goodRequest()
			c.edit(&r)
			_, err := validate(&r, cfg, now, true)
			e := apierror.From(err)
			if err == nil || e.Kind != apierror.Validation {
				t.Fatalf("err = %v, want a validation error", err)
			}
			msg, ok := e.Fields[c.field]
			if !ok || !strings.Contains(msg, c.substr) {
				t.Fatalf("fields = %v, want %s containing %q", e.Fields, c.field, c.substr)
			}
			if strings.Contains(err.Error(), validID) {
				t.Fatal("error echoes the ID number")
			}
		})
	}
}

func TestValidRequestIsNormalized(t *testing.T) {
	r := goodRequest()
	r.Petitioners[0].IDNumber = strings.ToLower(" " + validID + " ")
	r.Content.Facts = "我的身份证号是" + validID + "，公司拖欠工资"
	p, err := validate(&r, anji(t), now, true)
	if err != nil {
		t.Fatal(err)
	}
	if p.petitioners[0].IDNumber != strings.ToUpper(validID) {
		t.Errorf("id not normalized: %q", p.petitioners[0].IDNumber)
	}
	if strings.Contains(p.content.Facts, validID) || !strings.Contains(p.content.Facts, idRedaction) {
		t.Errorf("ID number in the facts not redacted: %q", p.content.Facts)
	}
	if p.respondent != "rsj" {
		t.Errorf("respondent by name not resolved to its id: %q", p.respondent)
	}
	if p.channel != eventsv1.Channel_CHANNEL_LETTER || p.category != eventsv1.Category_CATEGORY_COMPLAINT || p.group {
		t.Errorf("normalized = %+v", p)
	}
	if county.DateOf(p.receivedAt).String() != "2026-11-18" {
		t.Errorf("receivedAt = %v", p.receivedAt)
	}
	// Five persons make a group; a group visit's listed petitioners are its representatives.
	r = goodRequest()
	r.Channel, r.PersonCount = "visit", 12
	p, err = validate(&r, anji(t), now, true)
	if err != nil || !p.group || p.reps != 1 {
		t.Fatalf("group visit: %+v %v", p, err)
	}
}

func FuzzDecodeRegisterRequest(f *testing.F) {
	f.Add([]byte(`{"channel":"web","petitioners":[{"name":"张三","phone":"13800000000","address":"安吉县"}],"title":"t","content":{"request":"r","facts":"f","reasons":"x"}}`))
	f.Add([]byte(`{"channel":"visit","personCount":7,"petitioners":[]}`))
	f.Add([]byte(`{"petitioners":[{"idNumber":"11010519491231002X"}]}`))
	f.Add([]byte(`[]`))
	cfg := anji(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		var r RegisterRequest
		if err := apierror.DecodeJSONBytes(body, &r); err != nil {
			if k := apierror.From(err).Kind; k != apierror.BadRequest && k != apierror.Validation {
				t.Fatalf("decode error kind %s", k)
			}
			return
		}
		p, err := validate(&r, cfg, now, true)
		if err != nil {
			if apierror.From(err).Kind != apierror.Validation {
				t.Fatalf("validate error kind %v", err)
			}
			return
		}
		// Anything accepted meets the Art. 19 minimum.
		if len(p.petitioners) == 0 || p.title == "" || p.content.Request == "" || p.personCount < len(p.petitioners) {
			t.Fatalf("accepted an incomplete petition: %+v", p)
		}
		for _, pt := range p.petitioners {
			if pt.IDNumber != "" && CheckIDNumber(pt.IDNumber, now) != nil {
				t.Fatal("accepted a bad ID number")
			}
		}
	})
}
