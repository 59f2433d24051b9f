// Package intake is the public entry point of Xinfang (信访工作条例 Arts
// 17–21): it validates and registers petitions from every channel, keeps
// petitioners' personal data sealed, detects repeat and group petitions,
// issues query codes and answers the citizen's progress query, imports a
// county's history, and emits petition.registered through the outbox.
package intake

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"xinfang.io/county"
	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/intake/vault"
	"xinfang.io/services/kit/apierror"
	"xinfang.io/services/kit/auth"
	"xinfang.io/services/kit/inbox"
	"xinfang.io/services/kit/outbox"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/tracing"
)

// Service is intake's domain.
type Service interface {
	// Register records a petition and returns its case id and query code
	// once it is committed (with its event).
	Register(ctx context.Context, req RegisterRequest) (*RegisterResponse, error)
	// Query is the citizen's progress query: status and a dated timeline,
	// no personal data. Unknown and malformed codes are the same NotFound.
	Query(ctx context.Context, code string) (*QueryResponse, error)
	// Petition is the staff view of one case, personal data included.
	Petition(ctx context.Context, caseID string) (*PetitionView, error)
	// ImportLine imports one NDJSON line of history; see import.go.
	ImportLine(ctx context.Context, line []byte) (ImportOutcome, error)
	// Import imports an NDJSON stream line by line and reports per line.
	Import(ctx context.Context, r io.Reader) (*ImportReport, error)
	// Apply records a routing or lifecycle event in the case's status and
	// public timeline.
	Apply(ctx context.Context, env *eventsv1.Envelope) error
}

// RegisterResponse is the answer to a registration.
type RegisterResponse struct {
	CaseID    string  `json:"caseId"`
	QueryCode string  `json:"queryCode"`
	RepeatOf  *string `json:"repeatOf"`
	Group     bool    `json:"group"`
}

// Clock gives the service's time; tests set it.
type Clock func() time.Time

type service struct {
	db     *store.DB
	outbox *outbox.Outbox
	inbox  *inbox.Inbox
	keys   *vault.Keyring
	county func() *county.Config
	now    Clock
	log    *slog.Logger
	// caseIDs makes new case ids (newCaseID; tests make clashes).
	caseIDs func(*county.Config, time.Time) string
}

// New returns the intake service. countyConfig is read once per request so
// a hot-reloaded county file applies to the next registration.
func New(db *store.DB, ob *outbox.Outbox, in *inbox.Inbox, keys *vault.Keyring, countyConfig func() *county.Config, now Clock, log *slog.Logger) Service {
	return &service{db: db, outbox: ob, inbox: in, keys: keys, county: countyConfig, now: now, log: log, caseIDs: newCaseID}
}

func (s *service) Register(ctx context.Context, req RegisterRequest) (*RegisterResponse, error) {
	cfg := s.county()
	now := s.now()
	p, err := validate(&req, cfg, now, true)
	if err != nil {
		return nil, err
	}
	actor := actorOf(ctx)
	code := NewQueryCode()
	canon, _ := NormalizeQueryCode(code)
	var caseID, repeatOf string
	keys := s.petitionerKeys(p)
	// On PostgreSQL the repeat lookup runs before the transaction: under
	// READ COMMITTED a statement inside it sees what it would see now (a
	// snapshot per statement, and the lookup locks nothing), and the
	// transaction then begins with its insert, BEGIN and INSERT in one
	// round trip. On SQLite it stays inside, where the writer lock orders
	// it after every registration committed before.
	looked := false
	if s.db.Dialect == store.Postgres {
		if repeatOf, err = s.findRepeat(ctx, s.db, cfg, keys, p, now); err != nil {
			return nil, fmt.Errorf("register petition: %w", err)
		}
		looked = true
	}
	for attempt := 1; ; attempt++ {
		caseID = s.caseIDs(cfg, now)
		tracing.SetCaseID(ctx, caseID)
		err = s.db.InTx(ctx, func(tx *store.Tx) error {
			if !looked {
				if repeatOf, err = s.findRepeat(ctx, tx, cfg, keys, p, now); err != nil {
					return err
				}
			}
			rec := record{caseID: caseID, queryHash: queryCodeHash(canon), p: p, keys: keys, repeatOf: repeatOf,
				registeredAt: now, registeredBy: actor.GetId()}
			if err := s.insert(ctx, tx, rec); err != nil {
				return err
			}
			env := s.registeredEvent(cfg, rec, actor)
			return s.outbox.Enqueue(ctx, tx, env)
		})
		// Nothing was stored under a taken id: try the next one.
		if !errors.Is(err, errCaseIDTaken) || attempt == maxCaseIDAttempts {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("register petition: %w", err)
	}
	s.log.InfoContext(ctx, "petition registered", "case_id", caseID, "channel", p.channel.String(),
		"group", p.group, "repeat_of", repeatOf)
	resp := &RegisterResponse{CaseID: caseID, QueryCode: code, Group: p.group}
	if repeatOf != "" {
		resp.RepeatOf = &repeatOf
	}
	return resp, nil
}

// petitionerKeys are the keyed HMACs of the petitioners, in order, unique.
func (s *service) petitionerKeys(p *petition) []string {
	seen := map[string]bool{}
	var out []string
	for _, pt := range p.petitioners {
		k := s.keys.PetitionerKey(pt.IDNumber, pt.Name, pt.Phone)
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// registeredEvent is petition.registered for a stored record.
func (s *service) registeredEvent(cfg *county.Config, rec record, actor *eventsv1.Actor) *eventsv1.Envelope {
	p := rec.p
	received := county.DateOf(p.receivedAt)
	env := &eventsv1.Envelope{
		CaseId:     rec.caseID,
		OccurredAt: timestamppb.New(p.receivedAt),
		Actor:      actor,
		Imported:   rec.imported,
	}
	_ = env.SetPayload(&eventsv1.PetitionRegistered{
		Channel:             p.channel,
		PetitionerKeys:      rec.keys,
		PersonCount:         uint32(p.personCount),
		RepresentativeCount: uint32(p.reps),
		Township:            p.township,
		Title:               p.title,
		Content:             &eventsv1.Content{Request: p.content.Request, Facts: p.content.Facts, Reasons: p.content.Reasons},
		CategoryHint:        p.category,
		Respondent:          p.respondent,
		ReceivedAt:          timestamppb.New(p.receivedAt),
		Group:               p.group,
		RepeatOf:            rec.repeatOf,
		RoutingDue:          cfg.Calendar.AddDays(received, cfg.Deadlines.RoutingDays).String(),
		HistoryRouted:       rec.historyRouted,
		SourceId:            rec.sourceID,
	})
	return env
}

// newCaseID is "<division code>-<yyyymmdd>-<8 characters>", readable on the
// phone: four characters of the time of day (in 2⁻²⁰ of a day, ≈ 82 ms) and
// four random ones. The case id keys every service's tables, and ids that
// grow with time put each new case at the end of those B-trees — a few hot
// pages per commit — where random ids wrote a leaf page per case in each
// index of each service (SQLite: −42% of the time per case in a
// micro-benchmark; docs/benchmarks.md). 20 random bits make a clash
// possible only within one 82 ms step; Register then takes another id. The
// case id is not a secret (the query code is), so the time in it costs
// nothing.
func newCaseID(cfg *county.Config, now time.Time) string {
	local := now.In(county.Shanghai)
	day := local.Format("20060102")
	midnight := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, county.Shanghai)
	step := uint64(local.Sub(midnight).Milliseconds()) << 20 / uint64((24 * time.Hour).Milliseconds())
	var r [3]byte
	if _, err := rand.Read(r[:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	v := min(step, 1<<20-1)<<20 | (uint64(r[0])<<16|uint64(r[1])<<8|uint64(r[2]))&(1<<20-1)
	var b [8]byte
	for i := 7; i >= 0; i-- {
		b[i] = crockford[v&31]
		v >>= 5
	}
	return cfg.Spec.DivisionCode + "-" + day + "-" + string(b[:])
}

// maxCaseIDAttempts bounds Register's retries after an id clash: at 2,000
// cases a second a new id clashes about once in 6,000 (165 ids share a
// step), five clashes in a row practically never.
const maxCaseIDAttempts = 5

// errCaseIDTaken: the new case id is already in use; nothing was stored.
var errCaseIDTaken = errors.New("case id already taken")

// importedCaseID derives an imported case's id from its source id, so a
// re-run of the same file finds the case it already imported.
func importedCaseID(cfg *county.Config, sourceID string) string {
	sum := sha256.Sum256([]byte(cfg.ID + "\x00" + sourceID))
	return cfg.Spec.DivisionCode + "-IMP-" + strings.ToUpper(fmt.Sprintf("%x", sum[:6]))
}

// actorOf is the staff member in the request context, or the citizen.
func actorOf(ctx context.Context) *eventsv1.Actor {
	c, ok := auth.FromContext(ctx)
	if !ok {
		return &eventsv1.Actor{Kind: eventsv1.ActorKind_ACTOR_KIND_CITIZEN, Id: "citizen"}
	}
	return &eventsv1.Actor{Kind: eventsv1.ActorKind_ACTOR_KIND_CLERK, Id: c.Subject, Department: c.Department, Role: string(c.Role)}
}

// PetitionView is the staff view of a case.
type PetitionView struct {
	CaseID       string          `json:"caseId"`
	Status       string          `json:"status"`
	Channel      string          `json:"channel"`
	Petitioners  []Petitioner    `json:"petitioners"`
	PersonCount  int             `json:"personCount"`
	Group        bool            `json:"group"`
	Township     string          `json:"township,omitempty"`
	Title        string          `json:"title"`
	Content      Content         `json:"content"`
	Category     string          `json:"category,omitempty"`
	Respondent   string          `json:"respondent,omitempty"`
	ReceivedAt   time.Time       `json:"receivedAt"`
	RegisteredAt time.Time       `json:"registeredAt"`
	RepeatOf     *string         `json:"repeatOf"`
	Imported     bool            `json:"imported"`
	Departments  []string        `json:"departments"`
	Timeline     []TimelineEntry `json:"timeline"`
}

func (s *service) Petition(ctx context.Context, caseID string) (*PetitionView, error) {
	claims, err := auth.Require(ctx, auth.RoleClerk, auth.RoleSupervisor, auth.RoleLeader, auth.RoleAdmin, auth.RoleDepartment)
	if err != nil {
		return nil, err
	}
	tracing.SetCaseID(ctx, caseID)
	v, kid, sealed, err := s.load(ctx, caseID)
	if err != nil {
		return nil, err
	}
	if claims.Role == auth.RoleDepartment {
		// A department sees only cases routed to it, and never an
		// accusation against itself (Arts 30(3), 46(5)).
		mine := false
		for _, d := range v.Departments {
			mine = mine || d == claims.Department
		}
		if !mine || v.Respondent == claims.Department {
			return nil, apierror.New(apierror.NotFound, "no case %s", caseID)
		}
	}
	plain, err := s.keys.Open(kid, sealed, []byte(caseID))
	if err != nil {
		return nil, fmt.Errorf("petition %s: %w", caseID, err)
	}
	if err := json.Unmarshal(plain, &v.Petitioners); err != nil {
		return nil, fmt.Errorf("petition %s: personal data: %w", caseID, err)
	}
	// Reading personal data is audited (who, which case; never the data).
	s.log.InfoContext(ctx, "personal data read", "case_id", caseID, "staff", claims.Subject, "role", string(claims.Role))
	return v, nil
}
