package apierror

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"unicode/utf8"
)

// DecodeJSON reads one JSON object from the request body into v: at most
// maxBytes, valid UTF-8, no unknown fields, nothing after the object. Its
// errors are *Error values (BadRequest, TooLarge) naming the problem.
func DecodeJSON(r *http.Request, maxBytes int64, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBytes+1))
	if err != nil {
		return New(BadRequest, "read body: %v", err)
	}
	if int64(len(body)) > maxBytes {
		return New(TooLarge, "body larger than %d bytes", maxBytes)
	}
	return DecodeJSONBytes(body, v)
}

// DecodeJSONBytes is DecodeJSON for a body already read (an NDJSON line).
func DecodeJSONBytes(body []byte, v any) error {
	if !utf8.Valid(body) {
		return New(BadRequest, "body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.Is(err, io.EOF):
			return New(BadRequest, "empty body")
		case errors.As(err, &syn):
			return New(BadRequest, "malformed JSON at byte %d", syn.Offset)
		case errors.As(err, &typ):
			return &Error{Kind: Validation, Message: "the request has invalid fields",
				Fields: Fields{typ.Field: fmt.Sprintf("must be %s, not %s", typ.Type, typ.Value)}}
		default:
			return New(BadRequest, "%v", err)
		}
	}
	if dec.More() {
		return New(BadRequest, "unexpected data after the JSON object")
	}
	return nil
}
