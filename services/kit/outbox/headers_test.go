package outbox

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"
)

// headerCases are header lists as the services write them and as they
// might: plain and escaped keys, nil, empty and binary values.
var headerCases = [][]kafka.Header{
	nil,
	{},
	realHeaders(),
	{{Key: "traceparent", Value: []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")}},
	{{Key: "k", Value: nil}, {Key: "e", Value: []byte{}}, {Key: "b", Value: []byte{0, 1, 2, 0xff, '"', '\\'}}},
	{{Key: "a<b>&c", Value: []byte("x")}},
	{{Key: `quote"back\slash`, Value: []byte("x")}},
	{{Key: "追踪", Value: []byte("值")}},
	{{Key: "tab\there", Value: []byte("x")}, {Key: "plain", Value: []byte("y")}},
	{{Key: "", Value: []byte("")}},
}

func realHeaders() []kafka.Header {
	return []kafka.Header{
		{Key: "xinfang-event-id", Value: []byte("01JD8Y6Q5X7K2M4N6P8R0T2V4W")},
		{Key: "xinfang-event-type", Value: []byte("case.assigned")},
		{Key: "xinfang-county", Value: []byte("anji")},
		{Key: "xinfang-schema-version", Value: []byte("1")},
		{Key: "content-type", Value: []byte("application/x-protobuf")},
		{Key: "traceparent", Value: []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")},
	}
}

func TestHeadersWriteAsEncodingJSONWritesThem(t *testing.T) {
	for i, hs := range headerCases {
		want, err := json.Marshal(hs)
		if err != nil {
			t.Fatal(err)
		}
		got, err := encodeHeaders(hs)
		if err != nil || got != string(want) {
			t.Errorf("case %d: encodeHeaders = %s (%v), encoding/json %s", i, got, err, want)
		}
	}
}

// Rows written before (by encoding/json) or now read back alike; forms the
// hand-written reader does not take (spacing, other field order or case,
// escapes) go to encoding/json, and what it refuses is an error.
func TestHeadersReadAsEncodingJSONReadsThem(t *testing.T) {
	var texts []string
	for _, hs := range headerCases {
		b, _ := json.Marshal(hs)
		texts = append(texts, string(b))
	}
	texts = append(texts,
		`[ {"Key": "a", "Value": "eA=="} ]`,
		`[{"Value":"eA==","Key":"a"}]`,
		`[{"key":"a","value":"eA=="}]`,
		`[{"Key":"a\u0041","Value":"eA=="}]`,
		`[{"Key":"a","Value":"eA=="},{"Key":"b"}]`,
		`[]`, `null`,
	)
	for _, s := range texts {
		var want []kafka.Header
		if err := json.Unmarshal([]byte(s), &want); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		got, err := decodeHeaders(s)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("decodeHeaders(%s) = %#v (%v), encoding/json %#v", s, got, err, want)
		}
	}
	for _, bad := range []string{"[{\"Key\":\"a\",\"Value\":\"eA\n==\"}]", ``, `[`, `[{"Key":"a","Value":"not base64!"}]`, `[{"Key":"a","Value":"eA=="}`, `{"Key":"a"}`, `[{"Key":"a","Value":"eA=="}]x`} {
		if hs, err := decodeHeaders(bad); err == nil {
			t.Errorf("decodeHeaders(%q) = %#v, want an error", bad, hs)
		}
	}
}

// The hand-written reader is the one that reads what the services write.
func TestRealHeadersTakeTheHandWrittenPath(t *testing.T) {
	s, err := encodeHeaders(realHeaders())
	if err != nil || strings.Contains(s, " ") {
		t.Fatalf("%s %v", s, err)
	}
	if hs, ok := parseHeaders(s); !ok || !reflect.DeepEqual(hs, realHeaders()) {
		t.Fatalf("parseHeaders(%s) = %v, %v", s, hs, ok)
	}
}

// BenchmarkHeaders: a message's headers as the services write them (five
// envelope headers and traceparent), written and read back by hand and by
// encoding/json, side by side.
func BenchmarkHeaders(b *testing.B) {
	hs := realHeaders()
	stored, _ := json.Marshal(hs)
	b.Run("way=encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := json.Marshal(hs); err != nil {
				b.Fatal(err)
			}
			var out []kafka.Header
			if err := json.Unmarshal(stored, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("way=by-hand", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := encodeHeaders(hs); err != nil {
				b.Fatal(err)
			}
			if _, err := decodeHeaders(string(stored)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// Whatever a row holds, decodeHeaders reads it as encoding/json does, or
// refuses it as encoding/json does; and what encodeHeaders writes for any
// key and value is what encoding/json writes.
func FuzzHeaders(f *testing.F) {
	for _, hs := range headerCases {
		b, _ := json.Marshal(hs)
		f.Add(string(b), "k", []byte("v"))
	}
	f.Add(`[{"Key":"a","Value":"eA="}]`, "<", []byte{})
	f.Fuzz(func(t *testing.T, stored, key string, value []byte) {
		var want []kafka.Header
		wantErr := json.Unmarshal([]byte(stored), &want)
		got, err := decodeHeaders(stored)
		if (err != nil) != (wantErr != nil) || (err == nil && !reflect.DeepEqual(got, want)) {
			t.Fatalf("decodeHeaders(%q) = %#v, %v; encoding/json %#v, %v", stored, got, err, want, wantErr)
		}
		hs := []kafka.Header{{Key: key, Value: value}, {Key: "traceparent", Value: nil}}
		wantText, _ := json.Marshal(hs)
		if text, err := encodeHeaders(hs); err != nil || text != string(wantText) {
			t.Fatalf("encodeHeaders(%q, %q) = %s, %v; encoding/json %s", key, value, text, err, wantText)
		}
	})
}
