package supervision

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/go-kit/kit/endpoint"

	"xinfang.io/county"
	"xinfang.io/services/kit/apierror"
	"xinfang.io/services/supervision/casemachine"
)

// Router is where routes are registered (the app's HTTP server, or a mux in
// tests).
type Router interface {
	Handle(pattern string, h http.Handler)
}

// maxBody bounds an action's JSON body.
const maxBody = 64 << 10

// RegisterHTTP registers the department work API behind authn (the staff
// token middleware):
//
//	GET  /v1/cases?department=&state=&overdue=&dueBefore=&after=&limit=
//	GET  /v1/cases/{caseId}
//	POST /v1/cases/{caseId}/{action}
//	GET  /v1/cases/{caseId}/documents/{document}   (text/html)
func RegisterHTTP(r Router, e Endpoints, authn func(http.Handler) http.Handler, log *slog.Logger) {
	r.Handle("GET /v1/cases", authn(handler(log, e.List, decodeList, http.StatusOK)))
	r.Handle("GET /v1/cases/{caseId}", authn(handler(log, e.Get, func(r *http.Request) (any, error) {
		return GetRequest{CaseID: r.PathValue("caseId")}, nil
	}, http.StatusOK)))
	r.Handle("GET /v1/cases/{caseId}/documents/{document}", authn(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := e.Document(r.Context(), DocumentRequest{CaseID: r.PathValue("caseId"), Name: r.PathValue("document")})
		if err != nil {
			apierror.Write(w, r, log, err)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, resp.(string))
	})))
	r.Handle("POST /v1/cases/{caseId}/{action}", authn(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := casemachine.Action(r.PathValue("action"))
		ep, ok := e.Act[a]
		dec, ok2 := actionBodies[a]
		if !ok || !ok2 {
			apierror.Write(w, r, log, apierror.New(apierror.NotFound, "unknown action %q", a))
			return
		}
		handler(log, ep, func(r *http.Request) (any, error) {
			cmd, err := dec(r)
			if err != nil {
				return nil, err
			}
			cmd.Action = a
			return ActRequest{CaseID: r.PathValue("caseId"), Command: cmd}, nil
		}, http.StatusOK).ServeHTTP(w, r)
	})))
}

func handler(log *slog.Logger, ep endpoint.Endpoint, dec func(*http.Request) (any, error), code int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := dec(r)
		if err != nil {
			apierror.Write(w, r, log, err)
			return
		}
		resp, err := ep(r.Context(), req)
		if err != nil {
			apierror.Write(w, r, log, err)
			return
		}
		apierror.WriteJSON(w, code, resp)
	})
}

func decodeList(r *http.Request) (any, error) {
	q := r.URL.Query()
	f := apierror.Fields{}
	lq := ListQuery{Department: q.Get("department"), State: casemachine.State(q.Get("state")), After: q.Get("after")}
	if s := q.Get("overdue"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			f.Add("overdue", "must be true or false")
		}
		lq.Overdue = &b
	}
	if s := q.Get("dueBefore"); s != "" {
		d, err := county.ParseDate(s)
		if err != nil {
			f.Add("dueBefore", "must be a YYYY-MM-DD date")
		}
		lq.DueBefore = d
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			f.Add("limit", "must be a positive number")
		}
		lq.Limit = n
	}
	return lq, f.Err()
}

// Action bodies. Every action takes an optional reason and, for imported
// history only, an explicit time "at"; fields of other actions are refused.
type common struct {
	Reason string     `json:"reason"`
	At     *time.Time `json:"at"`
}

func (c common) apply(cmd *casemachine.Command) {
	cmd.Reason = c.Reason
	if c.At != nil {
		cmd.At = *c.At
	}
}

type (
	acknowledgeBody struct {
		common
		NotifiedOn county.Date `json:"notifiedOn"`
	}
	plainBody  struct{ common }
	extendBody struct {
		common
		Days               int  `json:"days"`
		PetitionerNotified bool `json:"petitionerNotified"`
	}
	replyBody struct {
		common
		Outcome string `json:"outcome"`
		Opinion string `json:"opinion"`
	}
	serveBody struct {
		common
		Method   string      `json:"method"`
		ServedOn county.Date `json:"servedOn"`
	}
	evaluateBody struct {
		common
		Target string `json:"target"`
		Rating string `json:"rating"`
	}
	requestBody struct {
		common
		ReviewingBody string `json:"reviewingBody"`
	}
	decideBody struct {
		common
		Outcome string `json:"outcome"`
		Opinion string `json:"opinion"`
	}
	hearingBody struct {
		common
		From county.Date `json:"from"`
		To   county.Date `json:"to"`
	}
	returnBody struct {
		common
		Days int `json:"days"`
	}
	mediateBody struct {
		common
		Kind             string `json:"kind"`
		AgreementReached bool   `json:"agreementReached"`
		Summary          string `json:"summary"`
	}
	flagBody struct {
		common
		Flag  string `json:"flag"`
		Set   *bool  `json:"set"`
		Owner string `json:"owner"`
	}
	answerBody struct {
		common
		ActionEventID string `json:"actionEventId"`
		Answer        string `json:"answer"`
	}
	declineBody struct {
		common
		NotAcceptedReason string      `json:"notAcceptedReason"`
		Article           string      `json:"article"`
		LegalChannel      string      `json:"legalChannel"`
		Guidance          string      `json:"guidance"`
		LinkedCaseID      string      `json:"linkedCaseId"`
		NotifiedOn        county.Date `json:"notifiedOn"`
	}
)

// decodeBody reads a JSON body into a new T (an empty body is {}) and
// turns it into a command.
func decodeBody[T any](fill func(*T, *casemachine.Command) error) func(*http.Request) (casemachine.Command, error) {
	return func(r *http.Request) (casemachine.Command, error) {
		var cmd casemachine.Command
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if err != nil {
			return cmd, apierror.New(apierror.BadRequest, "read body: %v", err)
		}
		if len(body) > maxBody {
			return cmd, apierror.New(apierror.TooLarge, "body larger than %d bytes", maxBody)
		}
		var v T
		if len(bytes.TrimSpace(body)) > 0 {
			if err := apierror.DecodeJSONBytes(body, &v); err != nil {
				return cmd, err
			}
		}
		return cmd, fill(&v, &cmd)
	}
}

var actionBodies = map[casemachine.Action]func(*http.Request) (casemachine.Command, error){
	casemachine.ActAcknowledge: decodeBody(func(b *acknowledgeBody, c *casemachine.Command) error {
		b.apply(c)
		c.NotifiedOn = b.NotifiedOn
		return nil
	}),
	casemachine.ActObject: decodeBody(func(b *plainBody, c *casemachine.Command) error { b.apply(c); return nil }),
	casemachine.ActAccept: decodeBody(func(b *plainBody, c *casemachine.Command) error { b.apply(c); return nil }),
	casemachine.ActExtend: decodeBody(func(b *extendBody, c *casemachine.Command) error {
		b.apply(c)
		c.Days, c.PetitionerNotified = b.Days, b.PetitionerNotified
		return nil
	}),
	casemachine.ActReply: decodeBody(func(b *replyBody, c *casemachine.Command) error {
		b.apply(c)
		c.Outcome, c.Opinion = b.Outcome, b.Opinion
		return nil
	}),
	casemachine.ActServe: decodeBody(func(b *serveBody, c *casemachine.Command) error {
		b.apply(c)
		c.Method, c.ServedOn = b.Method, b.ServedOn
		return nil
	}),
	casemachine.ActEvaluate: decodeBody(func(b *evaluateBody, c *casemachine.Command) error {
		b.apply(c)
		c.Target, c.Rating = b.Target, b.Rating
		return nil
	}),
	casemachine.ActRequestReview:   decodeBody(requestFill),
	casemachine.ActRequestReReview: decodeBody(requestFill),
	casemachine.ActDecideReview:    decodeBody(decideFill),
	casemachine.ActDecideReReview:  decodeBody(decideFill),
	casemachine.ActHearing: decodeBody(func(b *hearingBody, c *casemachine.Command) error {
		b.apply(c)
		c.From, c.To = b.From, b.To
		return nil
	}),
	casemachine.ActReturn: decodeBody(func(b *returnBody, c *casemachine.Command) error {
		b.apply(c)
		c.Days = b.Days
		return nil
	}),
	casemachine.ActMediate: decodeBody(func(b *mediateBody, c *casemachine.Command) error {
		b.apply(c)
		c.MediationKind, c.AgreementReached, c.Summary = b.Kind, b.AgreementReached, b.Summary
		return nil
	}),
	casemachine.ActFlag: decodeBody(func(b *flagBody, c *casemachine.Command) error {
		b.apply(c)
		if b.Set == nil {
			return apierror.Fields{"set": "required: true to set the flag, false to clear it"}.Err()
		}
		c.Flag, c.Set, c.Owner = b.Flag, *b.Set, b.Owner
		return nil
	}),
	casemachine.ActAnswerSupervision: decodeBody(func(b *answerBody, c *casemachine.Command) error {
		b.apply(c)
		c.ActionEventID, c.Answer = b.ActionEventID, b.Answer
		return nil
	}),
	casemachine.ActDecline: decodeBody(func(b *declineBody, c *casemachine.Command) error {
		b.apply(c)
		c.NotAcceptedReason, c.Article, c.LegalChannel = b.NotAcceptedReason, b.Article, b.LegalChannel
		c.Guidance, c.LinkedCaseID, c.NotifiedOn = b.Guidance, b.LinkedCaseID, b.NotifiedOn
		return nil
	}),
	casemachine.ActWithdraw: decodeBody(func(b *plainBody, c *casemachine.Command) error { b.apply(c); return nil }),
}

func requestFill(b *requestBody, c *casemachine.Command) error {
	b.apply(c)
	c.ReviewingBody = b.ReviewingBody
	return nil
}

func decideFill(b *decideBody, c *casemachine.Command) error {
	b.apply(c)
	c.Outcome, c.Opinion = b.Outcome, b.Opinion
	return nil
}
