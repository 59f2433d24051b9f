package intake

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/apierror"
	"xinfang.io/services/kit/auth"
	"xinfang.io/services/kit/store"
)

// ImportRecord is one NDJSON line of POST /v1/import: a historical petition
// and its dated lifecycle events, in order. Event payloads use the event
// contract's JSON field names (proto3 JSON, e.g. "leadDepartment").
type ImportRecord struct {
	SourceID string          `json:"sourceId"`
	Petition RegisterRequest `json:"petition"`
	Events   []ImportEvent   `json:"events"`
}

// ImportEvent is one dated lifecycle event of an imported case.
type ImportEvent struct {
	Type    string          `json:"type"`
	At      string          `json:"at"`
	Actor   string          `json:"actor,omitempty"`
	Reason  string          `json:"reason,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// ImportOutcome says what became of a line.
type ImportOutcome struct {
	CaseID   string `json:"caseId"`
	Imported bool   `json:"imported"` // false: the case was imported by an earlier run
}

const maxImportEvents = 200

var sourceIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$`)

// importNamespace makes imported event ids deterministic (UUIDv5 of county,
// source id and position), so a re-run produces the same ids and every
// consumer's inbox ignores what it already applied.
var importNamespace = uuid.MustParse("6f1c1d2e-4b7a-5c1d-9e0f-58696e66616e")

var routingTypes = map[string]bool{"case.assigned": true, "case.diverted": true, "case.forwarded": true, "case.not_accepted": true}

func (s *service) ImportLine(ctx context.Context, line []byte) (ImportOutcome, error) {
	var rec ImportRecord
	if err := apierror.DecodeJSONBytes(line, &rec); err != nil {
		return ImportOutcome{}, err
	}
	cfg := s.county()
	now := s.now()
	f := apierror.Fields{}
	if !sourceIDPattern.MatchString(rec.SourceID) {
		f.Add("sourceId", "required: 1–64 characters of letters, digits and . _ / -, starting with a letter or digit")
	}
	if strings.TrimSpace(rec.Petition.ReceivedAt) == "" {
		f.Add("petition.receivedAt", "required for imported history")
	}
	p, verr := validate(&rec.Petition, cfg, now, false)
	if verr != nil {
		for k, v := range apierror.From(verr).Fields {
			f.Add("petition."+k, "%s", v)
		}
	}
	if len(rec.Events) > maxImportEvents {
		f.Add("events", "at most %d events per case", maxImportEvents)
	}
	var envs []*eventsv1.Envelope
	prev := time.Time{}
	if p != nil {
		prev = p.receivedAt
	}
	for i, ev := range rec.Events {
		path := fmt.Sprintf("events[%d]", i)
		env, err := decodeImportEvent(ev)
		if err != nil {
			f.Add(path, "%s", err.Error())
			continue
		}
		at := env.OccurredAt.AsTime()
		switch {
		case i == 0 && !routingTypes[ev.Type]:
			f.Add(path+".type", "the first event of a case must be its routing decision (case.assigned, case.diverted, case.forwarded or case.not_accepted)")
		case at.Before(prev):
			f.Add(path+".at", "events must be in time order, after the petition was received")
		case at.After(now):
			f.Add(path+".at", "cannot be in the future")
		}
		if a := env.GetCaseAssigned(); a != nil {
			for _, d := range append([]string{a.LeadDepartment}, a.CoDepartments...) {
				if _, ok := cfg.Department(d); !ok {
					f.Add(path+".payload.leadDepartment", "department %q is not defined in the county", d)
				}
			}
		}
		prev = at
		envs = append(envs, env)
	}
	if err := f.Err(); err != nil {
		return ImportOutcome{}, err
	}

	caseID := importedCaseID(cfg, rec.SourceID)
	out := ImportOutcome{CaseID: caseID}
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM petitions WHERE case_id = ?`, caseID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil // imported by an earlier run: nothing twice
		}
		canon, _ := NormalizeQueryCode(NewQueryCode())
		keys := s.petitionerKeys(p)
		r := record{caseID: caseID, queryHash: queryCodeHash(canon), p: p, keys: keys, registeredAt: p.receivedAt,
			registeredBy: "importer", sourceID: rec.SourceID, imported: true, historyRouted: len(envs) > 0}
		if err := s.insert(ctx, tx, r); err != nil {
			return err
		}
		importer := &eventsv1.Actor{Kind: eventsv1.ActorKind_ACTOR_KIND_IMPORTER, Id: "importer"}
		reg := s.registeredEvent(cfg, r, importer)
		all := append([]*eventsv1.Envelope{reg}, envs...)
		for i, env := range all {
			env.EventId = uuid.NewSHA1(importNamespace, []byte(fmt.Sprintf("%s\x00%s\x00%d", cfg.ID, rec.SourceID, i))).String()
			env.CaseId = caseID
			env.Imported = true
			if env.Actor == nil {
				env.Actor = importer
			}
		}
		if err := s.outbox.Enqueue(ctx, tx, all...); err != nil {
			return err
		}
		out.Imported = true
		return nil
	})
	if err != nil {
		return ImportOutcome{}, fmt.Errorf("import %s: %w", rec.SourceID, err)
	}
	return out, nil
}

// decodeImportEvent builds the envelope of one imported event, decoding the
// payload strictly into the contract's message for its type.
func decodeImportEvent(ev ImportEvent) (*eventsv1.Envelope, error) {
	if ev.Type == "petition.registered" || strings.HasPrefix(ev.Type, "alert.") {
		return nil, fmt.Errorf("type %q cannot be imported as a lifecycle event", ev.Type)
	}
	env := &eventsv1.Envelope{}
	oneof := env.ProtoReflect().Descriptor().Oneofs().ByName("payload")
	fd := oneof.Fields().ByName(protoreflect.Name(strings.Replace(ev.Type, ".", "_", 1)))
	if fd == nil {
		return nil, fmt.Errorf("unknown event type %q (see proto/README.md)", ev.Type)
	}
	msg := env.ProtoReflect().Mutable(fd).Message()
	payload := ev.Payload
	if len(payload) == 0 {
		payload = []byte("{}")
	}
	if err := protojson.Unmarshal(payload, msg.Interface()); err != nil {
		return nil, fmt.Errorf("payload of %s: %v", ev.Type, err)
	}
	at, err := parseWhen(ev.At)
	if err != nil {
		return nil, fmt.Errorf("at: must be a date or an RFC 3339 time")
	}
	env.Type = env.TypeName()
	env.OccurredAt = timestamppb.New(at)
	env.Reason = ev.Reason
	if ev.Actor != "" {
		env.Actor = &eventsv1.Actor{Kind: eventsv1.ActorKind_ACTOR_KIND_IMPORTER, Id: ev.Actor}
	}
	return env, nil
}

// ImportReport summarizes an import: every bad line by number, with the
// reason; good lines are imported (or skipped when already imported).
type ImportReport struct {
	Lines    int           `json:"lines"`
	Imported int           `json:"imported"`
	Skipped  int           `json:"skipped"`
	Failed   int           `json:"failed"`
	Errors   []ImportError `json:"errors"`
}

// ImportError is one rejected line.
type ImportError struct {
	Line    int               `json:"line"`
	Error   apierror.Kind     `json:"error"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

const (
	maxImportLine   = 1 << 20
	maxImportErrors = 1000 // the report lists this many; the count covers all
)

func (s *service) Import(ctx context.Context, r io.Reader) (*ImportReport, error) {
	if _, err := auth.Require(ctx, auth.RoleAdmin, auth.RoleSupervisor); err != nil {
		return nil, err
	}
	rep := &ImportReport{Errors: []ImportError{}}
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := readLine(br, maxImportLine)
		if errors.Is(err, io.EOF) && len(line) == 0 {
			return rep, nil
		}
		rep.Lines++
		if errors.Is(err, errLineTooLong) {
			rep.Failed++
			rep.Errors = append(rep.Errors, ImportError{Line: rep.Lines, Error: apierror.TooLarge, Message: fmt.Sprintf("line longer than %d bytes", maxImportLine)})
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("read import body at line %d: %w", rep.Lines, err)
		}
		if len(bytes.TrimSpace(line)) > 0 {
			out, ierr := s.ImportLine(ctx, line)
			switch e := apierror.From(ierr); {
			case ierr == nil && out.Imported:
				rep.Imported++
			case ierr == nil:
				rep.Skipped++
			case e.Kind == apierror.Internal:
				return nil, fmt.Errorf("import line %d: %w", rep.Lines, ierr)
			default:
				rep.Failed++
				if len(rep.Errors) < maxImportErrors {
					rep.Errors = append(rep.Errors, ImportError{Line: rep.Lines, Error: e.Kind, Message: e.Message, Fields: e.Fields})
				}
			}
		}
		if errors.Is(err, io.EOF) {
			return rep, nil
		}
	}
}

var errLineTooLong = errors.New("line too long")

// readLine reads one line without its newline; a line over max is skipped
// to its end and reported as errLineTooLong.
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) > max+1 {
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, err
			}
			return nil, errLineTooLong
		}
		line = append(line, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			return bytes.TrimRight(line, "\r\n"), err
		}
		return bytes.TrimRight(line, "\r\n"), nil
	}
}
