package apierror

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"xinfang.io/services/kit/auth"
)

func TestWriteMapsKindsAndHidesInternalCauses(t *testing.T) {
	f := Fields{}
	f.Add("petitioners[0].idNumber", "check digit does not match")
	f.Add("petitioners[0].idNumber", "second problem is dropped")
	cases := []struct {
		err  error
		code int
		kind Kind
	}{
		{f.Err(), 400, Validation},
		{fmt.Errorf("register: %w", New(NotFound, "no case %s", "c1")), 404, NotFound},
		{New(IllegalTransition, "case is replied"), 409, IllegalTransition},
		{fmt.Errorf("x: %w", auth.ErrForbidden), 403, Forbidden},
		{auth.ErrUnauthenticated, 401, Unauthenticated},
		{errors.New("pq: password=secret"), 500, Internal},
	}
	for _, c := range cases {
		rec := httptest.NewRecorder()
		Write(rec, httptest.NewRequest("GET", "/", nil), nil, c.err)
		var body Error
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		if rec.Code != c.code || body.Kind != c.kind {
			t.Errorf("%v → %d %s, want %d %s", c.err, rec.Code, body.Kind, c.code, c.kind)
		}
		if c.kind == Internal && body.Message != "internal error" {
			t.Errorf("internal cause leaked: %q", body.Message)
		}
	}
	if (Fields{}).Err() != nil {
		t.Fatal("empty fields is an error")
	}
	if got := f.Err().(*Error).Fields["petitioners[0].idNumber"]; got != "check digit does not match" {
		t.Fatalf("field = %q", got)
	}
}

func TestDecodeJSON(t *testing.T) {
	type req struct {
		Name  string `json:"name"`
		Count int    `json:"count"`
	}
	cases := map[string]Kind{
		`{"name":"张三","count":1}`:   "",
		`{"name":"x","extra":1}`:    BadRequest,
		`{"count":"five"}`:          Validation,
		`{"name":"x"} {"name":"y"}`: BadRequest,
		`{"name":`:                  BadRequest,
		"{\"name\":\"\xff\"}":       BadRequest,
		``:                          BadRequest,
		`{"name":"` + string(make([]byte, 200)) + `"}`: TooLarge,
	}
	for body, want := range cases {
		var v req
		err := DecodeJSON(httptest.NewRequest("POST", "/", bytesReader(body)), 100, &v)
		if want == "" {
			if err != nil {
				t.Errorf("%q: %v", body, err)
			}
			continue
		}
		if e := From(err); err == nil || e.Kind != want {
			t.Errorf("%q: err %v, want kind %s", body, err, want)
		}
	}
}

func bytesReader(s string) *strings.Reader { return strings.NewReader(s) }
